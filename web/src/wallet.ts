// Wallets: the browser wallets that announce themselves (EIP-6963), the
// legacy injected one (window.ethereum) and, on a `streamgate dev` server
// only, the chain's well-known dev accounts. Their keys are the public test
// keys every Ethereum dev chain ships with. Phone wallets are in
// walletconnect.ts, loaded only when used.
import { createPublicClient, createWalletClient, custom, defineChain, getAddress, http, numberToHex, parseAbi, type EIP1193Provider } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Chain } from "@gen/streamgate/gateway/v1/gateway_service_pb";
import type { Signer } from "./session";

export const devAccounts = {
  creator: { label: "Creator (dev account #1)", key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" },
  viewer: { label: "Viewer (dev account #2)", key: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a" },
} as const;
export type DevAccountName = keyof typeof devAccounts;

// The dev chain's deployer owns StreamGatePass and is the only minter.
const devDeployerKey = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/** devSigner signs with a dev account's key, in the page. */
export function devSigner(name: DevAccountName, chainId: bigint): Signer {
  const account = privateKeyToAccount(devAccounts[name].key);
  return { address: account.address, chainId, sign: (message) => account.signMessage({ message }) };
}

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
  interface WindowEventMap {
    "eip6963:announceProvider": CustomEvent<unknown>;
  }
}

/** WalletInfo is what a wallet says about itself in its EIP-6963 announcement. */
export interface WalletInfo {
  uuid: string;
  name: string;
  /** A data: URI, as EIP-6963 requires; see walletIcon before showing it. */
  icon: string;
  /** Reverse-DNS id of the wallet, e.g. "io.metamask". */
  rdns: string;
}

/** AnnouncedWallet is one browser wallet found by EIP-6963. */
export interface AnnouncedWallet {
  info: WalletInfo;
  provider: EIP1193Provider;
}

const announced = new Map<string, AnnouncedWallet>();
const walletListeners = new Set<(w: AnnouncedWallet[]) => void>();
let discovering = false;

function onAnnounce(e: CustomEvent<unknown>): void {
  // Any script on the page may dispatch this event: keep only well-formed
  // announcements, and never trust their strings as markup.
  const d = e.detail as { info?: Partial<WalletInfo>; provider?: { request?: unknown } } | null;
  const info = d?.info;
  if (!info || typeof d.provider?.request !== "function") return;
  if (typeof info.uuid !== "string" || !info.uuid || typeof info.name !== "string" || !info.name.trim()) return;
  announced.set(info.uuid, {
    info: { uuid: info.uuid, name: info.name.trim().slice(0, 64), icon: typeof info.icon === "string" ? info.icon : "", rdns: typeof info.rdns === "string" ? info.rdns : "" },
    provider: d.provider as EIP1193Provider,
  });
  const list = announcedWallets();
  for (const l of walletListeners) l(list);
}

/** announcedWallets lists the wallets found so far, in announcement order. */
export function announcedWallets(): AnnouncedWallet[] {
  return [...announced.values()];
}

/**
 * watchWallets starts EIP-6963 discovery (once per page: every wallet
 * answers the request, whenever it loaded) and calls l with the whole list
 * each time a wallet announces itself; returns an unsubscribe.
 */
export function watchWallets(l: (w: AnnouncedWallet[]) => void): () => void {
  walletListeners.add(l);
  if (!discovering) {
    discovering = true;
    addEventListener("eip6963:announceProvider", onAnnounce);
    dispatchEvent(new Event("eip6963:requestProvider"));
  }
  return () => walletListeners.delete(l);
}

/**
 * walletIcon returns the icon if it is safe to put in an <img src>: a
 * data:image/ URI (an <img> runs no script, even from SVG). Anything else,
 * a remote URL included (it would tell a third party who looks), gives
 * undefined.
 */
export function walletIcon(info: WalletInfo): string | undefined {
  return /^data:image\/[a-z0-9.+-]+[;,]/i.test(info.icon) ? info.icon : undefined;
}

/** hasInjectedWallet reports whether a legacy injected wallet is present. */
export function hasInjectedWallet(): boolean {
  return typeof window.ethereum?.request === "function";
}

/** injectedSigner connects window.ethereum: the fallback when no wallet announces itself. */
export function injectedSigner(chains: Chain[]): Promise<Signer> {
  const provider = window.ethereum;
  if (!provider) return Promise.reject(new Error("No browser wallet found. Install one, or use a dev wallet on a dev server."));
  return providerSigner(provider, chains);
}

/**
 * providerSigner connects an EIP-1193 wallet (the one the user picked),
 * moving it to a configured chain when it is on another one (adding the
 * chain when it publishes an RPC URL). It signs with personal_sign on that
 * provider only.
 */
export async function providerSigner(provider: EIP1193Provider, chains: Chain[]): Promise<Signer> {
  const client = createWalletClient({ transport: custom(provider) });
  const [address] = await client.requestAddresses();
  if (!address) throw new Error("The wallet did not share an account.");
  let chainId = BigInt(await client.getChainId());
  if (!chains.some((c) => c.chainId === chainId)) {
    const want = chains[0];
    if (!want) throw new Error("This server supports no chain.");
    try {
      await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: numberToHex(want.chainId) }] });
    } catch (err) {
      // 4902: the wallet does not know the chain; add it when we can.
      if ((err as { code?: number }).code !== 4902 || !want.rpcUrl) {
        throw new Error(`Switch your wallet to ${want.name} (chain id ${want.chainId}) and try again.`);
      }
      await provider.request({
        method: "wallet_addEthereumChain",
        params: [{ chainId: numberToHex(want.chainId), chainName: want.name, rpcUrls: [want.rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }],
      });
    }
    chainId = want.chainId;
  }
  const checksummed = getAddress(address);
  return {
    address: checksummed,
    chainId,
    sign: (message) => client.signMessage({ account: checksummed, message }),
  };
}

/** mintDemoPass mints one StreamGatePass to `to` with the dev deployer key and waits for the receipt. */
export async function mintDemoPass(chain: Chain, to: string): Promise<string> {
  const viemChain = defineChain({
    id: Number(chain.chainId),
    name: chain.name,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  });
  const transport = http(chain.rpcUrl);
  const wallet = createWalletClient({ account: privateKeyToAccount(devDeployerKey), chain: viemChain, transport });
  const reader = createPublicClient({ chain: viemChain, transport });
  const hash = await wallet.writeContract({
    address: getAddress(chain.demoNftContractAddress),
    abi: parseAbi(["function mint(address to) returns (uint256)"]),
    functionName: "mint",
    args: [getAddress(to)],
  });
  const receipt = await reader.waitForTransactionReceipt({ hash, pollingInterval: 500, timeout: 60_000 });
  if (receipt.status !== "success") throw new Error(`The mint transaction ${hash} reverted.`);
  return hash;
}
