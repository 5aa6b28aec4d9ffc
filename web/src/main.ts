// Entry point: loads the client configuration and the stored session,
// draws the shell (header with account, navigation) and starts the router.
import "./styles.css";
import { errorMessage, loadConfig } from "./api";
import { h, icon, icons, shortAddress } from "./dom";
import { libraryPage } from "./pages/library";
import { notFoundPage } from "./pages/notfound";
import { signInPage } from "./pages/signin";
import { studioPage } from "./pages/studio";
import { uploadPage } from "./pages/upload";
import { watchPage } from "./pages/watch";
import { fallback, onNavigate, rerender, route, start } from "./router";
import { initSession, onSessionChange, session, signOut } from "./session";

const themeKey = "streamgate.theme";

function applyTheme(t: string | null): void {
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}

function currentTheme(): "light" | "dark" {
  const t = document.documentElement.dataset.theme;
  if (t === "light" || t === "dark") return t;
  return matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

function header(): HTMLElement {
  const account = h("div", { class: "account" });
  const drawAccount = () => {
    const s = session();
    account.replaceChildren(
      ...(s
        ? [
            h("span", { class: "account-chip", title: s.address, "data-testid": "account", "data-address": s.address }, h("span", { class: "dot" }), h("span", { class: "account-full" }, s.address), h("span", { class: "account-short" }, shortAddress(s.address))),
            h("button", { class: "btn btn-ghost", type: "button", "data-testid": "signout", onclick: async () => { await signOut(); } }, "Sign out"),
          ]
        : [h("a", { class: "btn btn-primary", href: `/signin?next=${encodeURIComponent(location.pathname)}`, "data-link": true, "data-testid": "signin-link" }, icon(icons.wallet), "Sign in")]),
    );
  };
  drawAccount();
  let shown = session()?.address;
  onSessionChange((s) => {
    drawAccount();
    // Pages depend on who is signed in (upload, studio, gated playback); a
    // token refresh keeps the same wallet and must not disturb the page.
    if (s?.address !== shown) {
      shown = s?.address;
      rerender();
    }
  });

  const themeBtn = h("button", { class: "btn btn-icon", type: "button", "aria-label": "Toggle colour theme", title: "Toggle colour theme" });
  const drawTheme = () => themeBtn.replaceChildren(icon(currentTheme() === "dark" ? icons.sun : icons.moon));
  themeBtn.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(themeKey, next);
    applyTheme(next);
    drawTheme();
  });
  drawTheme();

  const links = [
    h("a", { href: "/", "data-link": true, class: "nav-link", "data-path": "/" }, "Library"),
    h("a", { href: "/upload", "data-link": true, class: "nav-link", "data-path": "/upload" }, icon(icons.upload), "Upload"),
  ];
  onNavigate((path) => {
    for (const a of links) a.classList.toggle("active", a.dataset.path === path);
    // The sign-in link returns to where the user was.
    const signin = account.querySelector<HTMLAnchorElement>("[data-testid=signin-link]");
    if (signin && path !== "/signin") signin.href = `/signin?next=${encodeURIComponent(path)}`;
  });

  return h(
    "header",
    { class: "topbar" },
    h("div", { class: "topbar-inner" }, h("a", { href: "/", "data-link": true, class: "brand" }, h("span", { class: "brand-mark" }, icon(icons.play)), "StreamGate"), h("nav", { class: "nav" }, links), h("div", { class: "topbar-right" }, themeBtn, account)),
  );
}

async function main(): Promise<void> {
  applyTheme(localStorage.getItem(themeKey));
  const app = document.getElementById("app")!;
  try {
    await loadConfig();
  } catch (err) {
    app.replaceChildren(h("main", { class: "container" }, h("div", { class: "empty" }, icon(icons.alert, "empty-icon"), h("h2", null, "StreamGate is unreachable"), h("p", null, errorMessage(err)), h("button", { class: "btn btn-primary", onclick: () => location.reload() }, "Reload"))));
    return;
  }
  await initSession();
  const outlet = h("main", { class: "container", id: "main" });
  app.replaceChildren(header(), outlet, h("footer", { class: "footer" }, "StreamGate · token-gated video"));

  route("/", libraryPage);
  route("/upload", uploadPage);
  route("/watch/:id", watchPage);
  route("/studio/:id", studioPage);
  route("/signin", signInPage);
  fallback(notFoundPage);
  start(outlet);
}

void main();
