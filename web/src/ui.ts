// Shared view pieces: notices, empty states, the sign-in panel.
import type { Chain } from "@gen/streamgate/gateway/v1/gateway_service_pb";
import { cfg, errorMessage } from "./api";
import { h, icon, icons } from "./dom";
import { signIn } from "./session";
import { devAccounts, devSigner, hasInjectedWallet, injectedSigner, providerSigner, announcedWallets, walletIcon, watchWallets, type AnnouncedWallet, type DevAccountName } from "./wallet";
import { walletConnectSigner, type Pairing } from "./walletconnect";

/** errorBox shows an error where it happened, with an optional retry. */
export function errorBox(err: unknown, retry?: () => void): HTMLElement {
  return h(
    "div",
    { class: "notice notice-error", role: "alert" },
    icon(icons.alert),
    h("div", { class: "notice-body" }, h("p", null, errorMessage(err))),
    retry ? h("button", { class: "btn btn-ghost", type: "button", onclick: () => retry() }, "Try again") : null,
  );
}

/** inlineError is a small error line for forms; empty text hides it. */
export function inlineError(): { el: HTMLElement; show(err: unknown): void; hide(): void } {
  const el = h("p", { class: "form-error", role: "alert", hidden: true });
  return {
    el,
    show(err) {
      el.textContent = errorMessage(err);
      el.hidden = false;
    },
    hide() {
      el.hidden = true;
      el.textContent = "";
    },
  };
}

/** emptyState is a friendly placeholder with an optional action. */
export function emptyState(title: string, text: string, action?: HTMLElement, glyph = icons.film): HTMLElement {
  return h("div", { class: "empty" }, icon(glyph, "empty-icon"), h("h2", null, title), h("p", null, text), action ?? null);
}

/** loading is a skeleton spinner line. */
export function loading(text = "Loading…"): HTMLElement {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner" }), text);
}

/** pageHeader is a page title with an optional subtitle and actions. */
export function pageHeader(title: string, subtitle?: string, ...actions: HTMLElement[]): HTMLElement {
  return h("div", { class: "page-header" }, h("div", null, h("h1", null, title), subtitle ? h("p", { class: "muted" }, subtitle) : null), actions.length ? h("div", { class: "page-actions" }, actions) : null);
}

/**
 * signInPanel offers every way to sign in this server allows: each browser
 * wallet that announces itself (EIP-6963; window.ethereum when none does),
 * a phone wallet through WalletConnect when the server has a project id,
 * and the dev accounts when the server runs `streamgate dev`.
 */
export function signInPanel(reason: string, onDone: () => void, compact = false): HTMLElement {
  const config = cfg();
  const err = inlineError();
  const chain = config.chains[0];
  // Buttons marked data-unavailable stay disabled; data-busy-ok ones (cancel,
  // copy) stay usable while a sign-in runs.
  const busy = (b: boolean) =>
    panel.querySelectorAll<HTMLButtonElement | HTMLSelectElement>("button, select").forEach((e) => {
      if (!e.hasAttribute("data-busy-ok")) e.disabled = b || e.hasAttribute("data-unavailable");
    });
  let cancelled = false;
  const run = async (f: () => Promise<unknown>) => {
    err.hide();
    busy(true);
    cancelled = false;
    try {
      await f();
      onDone();
    } catch (e) {
      if (!cancelled) err.show(e);
    } finally {
      busy(false);
    }
  };

  const options: HTMLElement[] = [browserWallets(config.chains, run)];
  options.push(phoneWallet(config.walletconnectProjectId, config.chains, run, () => (cancelled = true)));
  if (config.devMode && chain) {
    const select = h(
      "select",
      { class: "input", "data-testid": "dev-wallet", "aria-label": "Dev account" },
      ...Object.entries(devAccounts).map(([value, a]) => h("option", { value }, a.label)),
    );
    options.push(
      h(
        "div",
        { class: "signin-option" },
        h("h3", null, "Dev wallet ", h("span", { class: "badge badge-dev" }, "dev mode")),
        h("p", { class: "muted" }, `Well-known test accounts of the local dev chain (${chain.name}). Only offered by a dev server.`),
        h("div", { class: "row" }, select, h("button", { class: "btn btn-primary", type: "button", "data-testid": "signin-dev", onclick: () => run(() => signIn(devSigner(select.value as DevAccountName, chain.chainId))) }, "Sign in")),
      ),
    );
  }
  const panel = compact
    ? h("section", { class: "card signin signin-compact" }, h("div", { class: "signin-intro" }, icon(icons.wallet, "signin-icon"), h("div", null, h("h2", null, "Sign in with Ethereum"), h("p", { class: "muted" }, reason))), h("div", { class: "signin-options" }, options), err.el)
    : h("section", { class: "card signin" }, icon(icons.wallet, "signin-icon"), h("h2", null, "Sign in with Ethereum"), h("p", { class: "muted" }, reason), h("div", { class: "signin-options" }, options), err.el);
  return panel;
}

type Run = (f: () => Promise<unknown>) => Promise<void>;

// browserWallets is the chooser of installed wallets. Wallets announce
// themselves at any time, so the list redraws on each announcement until
// the panel leaves the page.
function browserWallets(chains: Chain[], run: Run): HTMLElement {
  const body = h("div", { class: "wallet-list", "data-testid": "wallet-list" });
  const el = h(
    "div",
    { class: "signin-option" },
    h("h3", null, "Browser wallet"),
    h("p", { class: "muted" }, "Sign a one-time message with a wallet in this browser. No transaction, no fee."),
    body,
  );
  let shown = false;
  const draw = (wallets: AnnouncedWallet[]) => {
    if (el.isConnected) shown = true;
    else if (shown) return off();
    const busy = el.closest(".signin")?.querySelector("button:disabled:not([data-unavailable])") != null;
    if (wallets.length > 0) {
      body.replaceChildren(...wallets.map((w) => walletButton(w, busy, () => run(async () => signIn(await providerSigner(w.provider, chains))))));
    } else if (hasInjectedWallet()) {
      body.replaceChildren(h("button", { class: "btn btn-primary", type: "button", "data-testid": "signin-wallet", disabled: busy, onclick: () => run(async () => signIn(await injectedSigner(chains))) }, icon(icons.wallet), "Connect wallet"));
    } else {
      body.replaceChildren(h("p", { class: "muted", "data-testid": "no-browser-wallet" }, "No wallet was found in this browser. Install a wallet extension (or open this page in a wallet's browser), then reload."));
    }
  };
  const off = watchWallets(draw);
  draw(announcedWallets());
  return el;
}

// walletButton names a wallet with its icon. Both come from the wallet's
// announcement: the name is text, and the icon only ever an <img> of a
// data:image/ URI.
function walletButton(w: AnnouncedWallet, disabled: boolean, onclick: () => void): HTMLElement {
  const src = walletIcon(w.info);
  return h(
    "button",
    { class: "btn wallet-choice", type: "button", "data-testid": "wallet-option", "data-rdns": w.info.rdns, "data-uuid": w.info.uuid, disabled, onclick },
    src ? h("img", { class: "wallet-icon", src, alt: "", width: 24, height: 24 }) : icon(icons.wallet, "wallet-icon"),
    h("span", null, w.info.name),
  );
}

// phoneWallet offers WalletConnect when the server has a project id, and
// says plainly why not otherwise.
function phoneWallet(projectId: string, chains: Chain[], run: Run, onCancel: () => void): HTMLElement {
  const title = h("h3", null, "Phone wallet (WalletConnect)");
  if (!projectId) {
    return h(
      "div",
      { class: "signin-option" },
      title,
      h(
        "p",
        { class: "muted", "data-testid": "walletconnect-off" },
        "Phone wallets are off on this server: no WalletConnect project id is configured. An operator turns them on with a WalletConnect Cloud project id, given to ",
        h("code", null, "streamgate serve --walletconnect-project-id"),
        " or ",
        h("code", null, "STREAMGATE_WALLETCONNECT_PROJECT_ID"),
        ".",
      ),
      h("button", { class: "btn", type: "button", "data-testid": "signin-walletconnect", disabled: true, "data-unavailable": true }, "Connect a phone wallet"),
    );
  }
  const pairing = h("div", { class: "wc-pairing", "data-testid": "walletconnect-pairing", hidden: true });
  let abort: AbortController | undefined;
  const cancel = h("button", { class: "btn btn-ghost", type: "button", "data-testid": "walletconnect-cancel", "data-busy-ok": true, onclick: () => { onCancel(); abort?.abort(); } }, "Cancel");
  const show = (p: Pairing) => {
    const copy = h("button", { class: "btn btn-ghost", type: "button", "data-testid": "walletconnect-copy", "data-busy-ok": true }, "Copy link");
    copy.addEventListener("click", () => {
      navigator.clipboard.writeText(p.uri).then(
        () => (copy.textContent = "Copied"),
        () => (copy.textContent = "Copy failed: select the link"),
      );
    });
    pairing.replaceChildren(
      h("div", { class: "wc-qr", "data-testid": "walletconnect-qr" }, svgNode(p.svg)),
      h("p", { class: "muted" }, "Scan with a wallet app on your phone, then approve the sign-in there."),
      h("input", { class: "input", readonly: true, value: p.uri, "aria-label": "WalletConnect link", "data-testid": "walletconnect-uri" }),
      h("div", { class: "row" }, copy, p.uri.startsWith("wc:") ? h("a", { class: "btn btn-ghost", href: p.uri }, "Open in a wallet app") : null, cancel),
    );
  };
  const start = () =>
    run(async () => {
      abort = new AbortController();
      // The relay may take a while (or be unreachable): say so, with a way out.
      pairing.replaceChildren(loading("Connecting to WalletConnect…"), h("div", { class: "row" }, cancel));
      pairing.hidden = false;
      try {
        const signer = await walletConnectSigner(projectId, chains, show, abort.signal);
        pairing.replaceChildren(h("p", { class: "muted" }, "Approve the sign-in message in your phone wallet."));
        await signIn(signer);
      } finally {
        pairing.hidden = true;
        pairing.replaceChildren();
      }
    });
  return h(
    "div",
    { class: "signin-option" },
    title,
    h("p", { class: "muted" }, "Scan a QR code with a wallet app on your phone and sign there."),
    h("button", { class: "btn btn-primary", type: "button", "data-testid": "signin-walletconnect", onclick: () => void start() }, "Connect a phone wallet"),
    pairing,
  );
}

// svgNode parses the QR code's SVG markup as XML (no script runs in a
// parsed document) and adopts its root into the page.
function svgNode(markup: string): Node {
  const root = new DOMParser().parseFromString(markup, "image/svg+xml").documentElement;
  if (root.namespaceURI !== "http://www.w3.org/2000/svg" || root.localName !== "svg") throw new Error("The QR code could not be drawn.");
  return document.importNode(root, true);
}
