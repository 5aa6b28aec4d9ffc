// Phone wallets through WalletConnect v2, offered only when the server
// publishes a WalletConnect project id. The provider and the QR encoder are
// imported on first use, so the main bundle stays small and a server
// without an id never loads them.
import { getAddress, stringToHex } from "viem";
import type { Chain } from "@gen/streamgate/gateway/v1/gateway_service_pb";
import type { Signer } from "./session";

/** Pairing is what the page shows while a phone wallet has not answered yet. */
export interface Pairing {
  /** The wc: URI the wallet scans or opens. */
  uri: string;
  /** SVG markup of the QR code, made by the encoder from uri alone. */
  svg: string;
}

// The few methods SIWE needs; a wallet that supports fewer is refused by
// the pairing itself.
const methods = ["personal_sign", "eth_accounts", "eth_requestAccounts", "eth_chainId"];

/**
 * walletConnectSigner pairs a phone wallet: onPairing receives the URI (and
 * its QR code) to show; it resolves once the wallet approves a session on
 * one of the server's chains. Aborting the signal stops the attempt.
 */
export async function walletConnectSigner(projectId: string, chains: Chain[], onPairing: (p: Pairing) => void, signal: AbortSignal): Promise<Signer> {
  if (chains.length === 0) throw new Error("This server supports no chain.");
  const [{ UniversalProvider }, { renderSVG }] = await abortable(Promise.all([import("@walletconnect/universal-provider"), import("uqr")]), signal);
  const provider = await abortable(
    UniversalProvider.init({
      projectId,
      metadata: { name: "StreamGate", description: "Token-gated video", url: location.origin, icons: [`${location.origin}/favicon.svg`] },
    }),
    signal,
  );
  provider.on("display_uri", (uri: string) => onPairing({ uri, svg: renderSVG(uri, { pixelSize: 4 }) }));
  const caip = chains.map((c) => `eip155:${c.chainId}`);
  const rpcMap = Object.fromEntries(chains.filter((c) => c.rpcUrl).map((c) => [String(c.chainId), c.rpcUrl]));
  // Stop pairing on cancel: the relay would otherwise keep the proposal.
  const stop = () => {
    provider.abortPairingAttempt();
    void provider.disconnect().catch(() => undefined);
  };
  signal.addEventListener("abort", stop, { once: true });
  const session = await abortable(
    provider.connect({
      // Optional rather than required: wallets refuse a proposal whose
      // required chains they lack, and any one of ours is enough.
      optionalNamespaces: { eip155: { chains: caip, methods, events: ["accountsChanged", "chainChanged"], rpcMap } },
    }),
    signal,
  ).finally(() => signal.removeEventListener("abort", stop));
  // Accounts are CAIP-10, "eip155:<chain>:<address>"; take the first on a
  // chain of ours, in the operator's order.
  const accounts = session?.namespaces.eip155?.accounts ?? [];
  for (const c of chains) {
    const account = accounts.find((a) => a.startsWith(`eip155:${c.chainId}:`));
    if (!account) continue;
    const address = getAddress(account.split(":")[2] ?? "");
    const chain = `eip155:${c.chainId}`;
    return {
      address,
      chainId: c.chainId,
      sign: (message) => provider.request<string>({ method: "personal_sign", params: [stringToHex(message), address] }, chain),
    };
  }
  void provider.disconnect().catch(() => undefined);
  throw new Error(`The phone wallet shared no account on ${chains.map((c) => c.name).join(" or ")}.`);
}

// abortable settles with p, or rejects as soon as signal aborts (p itself
// may never settle: a relay that cannot be reached).
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
