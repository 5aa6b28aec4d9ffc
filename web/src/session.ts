// The signed-in wallet: SIWE sign-in, the session tokens kept in
// localStorage (a reload stays signed in), and their refresh before expiry.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { api, Code, isCode, setBearerSource } from "./api";

const storageKey = "streamgate.session";

export interface Session {
  address: string;
  chainId: string; // decimal; bigint does not survive JSON
  accessToken: string;
  accessExpireMs: number;
  accessIssuedMs: number;
  refreshToken: string;
}

/** Signer signs an EIP-4361 message with EIP-191 personal_sign. */
export interface Signer {
  address: string;
  chainId: bigint;
  sign(message: string): Promise<string>;
}

type Listener = (s: Session | undefined) => void;

let current: Session | undefined = read();
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<Listener>();

setBearerSource(() => (current && current.accessExpireMs > Date.now() ? current.accessToken : undefined));

function read(): Session | undefined {
  try {
    const raw = localStorage.getItem(storageKey);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Session;
    return s.accessToken && s.refreshToken && s.address ? s : undefined;
  } catch {
    return undefined;
  }
}

function set(s: Session | undefined): void {
  current = s;
  if (s) localStorage.setItem(storageKey, JSON.stringify(s));
  else localStorage.removeItem(storageKey);
  schedule();
  for (const l of listeners) l(s);
}

/** session returns the signed-in wallet, if any. */
export function session(): Session | undefined {
  return current;
}

/** accessToken returns the current bearer token (for tus requests). */
export function accessToken(): string | undefined {
  return current?.accessToken;
}

/** onSessionChange calls l on sign-in, refresh and sign-out; returns an unsubscribe. */
export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** signIn runs the SIWE exchange: challenge, wallet signature, session. */
export async function signIn(signer: Signer): Promise<Session> {
  const challenge = await api.auth.createChallenge({ address: signer.address, chainId: signer.chainId });
  const signature = await signer.sign(challenge.message);
  const res = await api.auth.signIn({ message: challenge.message, signature });
  const s: Session = {
    address: res.session?.address ?? signer.address,
    chainId: String(res.session?.chainId ?? signer.chainId),
    accessToken: res.accessToken,
    accessExpireMs: res.accessTokenExpireTime ? timestampMs(res.accessTokenExpireTime) : Date.now() + 5 * 60_000,
    accessIssuedMs: Date.now(),
    refreshToken: res.refreshToken,
  };
  set(s);
  return s;
}

/** signOut revokes the session server-side (best effort) and forgets it. */
export async function signOut(): Promise<void> {
  const had = current;
  set(undefined);
  if (!had) return;
  try {
    await api.auth.signOut({}, { headers: { Authorization: `Bearer ${had.accessToken}` } });
  } catch {
    // The tokens are gone from this browser either way; an expired session
    // has nothing left to revoke.
  }
}

let refreshing: Promise<void> | undefined;

/** refresh exchanges the refresh token for a new access token. */
export function refresh(): Promise<void> {
  refreshing ??= doRefresh().finally(() => (refreshing = undefined));
  return refreshing;
}

async function doRefresh(): Promise<void> {
  // Another tab may have refreshed already: refresh tokens are single-use,
  // so adopt its newer session instead of spending the old token.
  const stored = read();
  if (stored && current && stored.refreshToken !== current.refreshToken) {
    set(stored);
    if (stored.accessExpireMs - Date.now() > 60_000) return;
  }
  const s = current;
  if (!s) return;
  try {
    const res = await api.auth.refreshSession({ refreshToken: s.refreshToken });
    set({
      ...s,
      address: res.session?.address ?? s.address,
      accessToken: res.accessToken,
      accessExpireMs: res.accessTokenExpireTime ? timestampMs(res.accessTokenExpireTime) : Date.now() + 5 * 60_000,
      accessIssuedMs: Date.now(),
      refreshToken: res.refreshToken,
    });
  } catch (err) {
    if (isCode(err, Code.Unauthenticated)) {
      set(undefined);
      return;
    }
    // A network blip: try again shortly while the access token still works.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => void refresh(), 10_000);
  }
}

// schedule refreshes at 80% of the access token's lifetime.
function schedule(): void {
  clearTimeout(refreshTimer);
  if (!current) return;
  const life = current.accessExpireMs - current.accessIssuedMs;
  const at = current.accessIssuedMs + life * 0.8;
  refreshTimer = setTimeout(() => void refresh(), Math.max(0, at - Date.now()));
}

/** initSession restores a stored session, refreshing it first when it has expired. */
export async function initSession(): Promise<void> {
  addEventListener("storage", (e) => {
    if (e.key !== storageKey) return;
    const s = read();
    current = s;
    schedule();
    for (const l of listeners) l(s);
  });
  if (!current) return;
  if (current.accessExpireMs - Date.now() < 30_000) await refresh();
  else schedule();
}
