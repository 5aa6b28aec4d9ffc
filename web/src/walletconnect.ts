// Phone wallets through WalletConnect v2, offered only when the server
// publishes a WalletConnect project id. The provider and the QR encoder are
// imported on first use, so the main bundle stays small and a server
// without an id never loads them.
import type Provider from "@walletconnect/universal-provider";
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

// relayTimeoutMs bounds the wait for a pairing URI: the relay answers in a
// second or two when it is reachable, and the provider retries forever
// when it is not.
const relayTimeoutMs = 15_000;

// One provider per page: it owns the relay connection and refuses a second
// initialisation, so a retry reuses it.
let shared: { projectId: string; provider: Promise<Provider> } | undefined;

function sharedProvider(init: typeof Provider.init, projectId: string): Promise<Provider> {
  if (shared?.projectId !== projectId) {
    const provider = init({
      projectId,
      metadata: { name: "StreamGate", description: "Token-gated video", url: location.origin, icons: [`${location.origin}/favicon.svg`] },
    });
    const entry = { projectId, provider };
    shared = entry;
    provider.catch(() => {
      if (shared === entry) shared = undefined;
    });
  }
  return shared.provider;
}

/**
 * walletConnectSigner pairs a phone wallet: onPairing receives the URI (and
 * its QR code) to show; it resolves once the wallet approves a session on
 * one of the server's chains. Aborting cancel stops the attempt; so does a
 * relay that gives no pairing URI within relayTimeoutMs.
 */
export async function walletConnectSigner(projectId: string, chains: Chain[], onPairing: (p: Pairing) => void, cancel: AbortSignal): Promise<Signer> {
  if (chains.length === 0) throw new Error("This server supports no chain.");
  const [{ UniversalProvider }, { renderSVG }] = await abortable(Promise.all([import("@walletconnect/universal-provider"), import("uqr")]), cancel);
  const relay = new AbortController();
  const timer = setTimeout(() => relay.abort(new Error("WalletConnect's relay could not be reached from this browser. Try again later, or sign in with another wallet.")), relayTimeoutMs);
  const signal = AbortSignal.any([cancel, relay.signal]);
  const provider = await abortable(sharedProvider((opts) => UniversalProvider.init(opts), projectId), signal).catch((err: unknown) => {
    clearTimeout(timer);
    throw err;
  });
  const onUri = (uri: string) => {
    clearTimeout(timer);
    onPairing({ uri, svg: renderSVG(uri, { pixelSize: 4 }) });
  };
  provider.on("display_uri", onUri);
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
  ).finally(() => {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
    provider.removeListener("display_uri", onUri);
  });
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
