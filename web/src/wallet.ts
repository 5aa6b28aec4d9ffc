// Wallets: an injected EIP-1193 wallet (window.ethereum) and, on a
// `streamgate dev` server only, the chain's well-known dev accounts. Their
// keys are the public test keys every Ethereum dev chain ships with.
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
}

/** hasInjectedWallet reports whether a browser wallet is present. */
export function hasInjectedWallet(): boolean {
  return typeof window.ethereum?.request === "function";
}

/**
 * injectedSigner connects the browser wallet, moving it to a configured
 * chain when it is on another one (adding the chain when it publishes an
 * RPC URL).
 */
export async function injectedSigner(chains: Chain[]): Promise<Signer> {
  const provider = window.ethereum;
  if (!provider) throw new Error("No browser wallet found. Install one, or use a dev wallet on a dev server.");
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
