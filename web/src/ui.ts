// Shared view pieces: notices, empty states, the sign-in panel.
import { cfg, errorMessage } from "./api";
import { h, icon, icons } from "./dom";
import { signIn } from "./session";
import { devAccounts, devSigner, hasInjectedWallet, injectedSigner, type DevAccountName } from "./wallet";

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
 * signInPanel offers every way to sign in this server allows: the browser
 * wallet, and the dev accounts when the server runs `streamgate dev`.
 */
export function signInPanel(reason: string, onDone: () => void, compact = false): HTMLElement {
  const config = cfg();
  const err = inlineError();
  const chain = config.chains[0];
  const busy = (b: boolean) => panel.querySelectorAll("button, select").forEach((e) => ((e as HTMLButtonElement).disabled = b));
  const run = async (f: () => Promise<unknown>) => {
    err.hide();
    busy(true);
    try {
      await f();
      onDone();
    } catch (e) {
      err.show(e);
    } finally {
      busy(false);
    }
  };

  const options: HTMLElement[] = [];
  if (hasInjectedWallet()) {
    options.push(
      h(
        "div",
        { class: "signin-option" },
        h("h3", null, "Browser wallet"),
        h("p", { class: "muted" }, "Sign a one-time message with the wallet in your browser. No transaction, no fee."),
        h("button", { class: "btn btn-primary", type: "button", "data-testid": "signin-wallet", onclick: () => run(async () => signIn(await injectedSigner(config.chains))) }, icon(icons.wallet), "Connect wallet"),
      ),
    );
  }
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
  if (options.length === 0) {
    options.push(h("p", { class: "muted" }, "No Ethereum wallet was found in this browser. Install a wallet extension (or open this page in a wallet's browser), then reload."));
  }
  const panel = compact
    ? h("section", { class: "card signin signin-compact" }, h("div", { class: "signin-intro" }, icon(icons.wallet, "signin-icon"), h("div", null, h("h2", null, "Sign in with Ethereum"), h("p", { class: "muted" }, reason))), h("div", { class: "signin-options" }, options), err.el)
    : h("section", { class: "card signin" }, icon(icons.wallet, "signin-icon"), h("h2", null, "Sign in with Ethereum"), h("p", { class: "muted" }, reason), h("div", { class: "signin-options" }, options), err.el);
  return panel;
}
