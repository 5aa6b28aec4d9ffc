// History routing: each page renders into the main element and gets an
// AbortSignal that fires when the user leaves it, which stops its streams,
// timers and players.

export interface PageContext {
  root: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  signal: AbortSignal;
}

export type Page = (ctx: PageContext) => void | Promise<void>;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
}

const routes: Route[] = [];
let notFound: Page = () => {};
let current: AbortController | undefined;
let outlet: HTMLElement;
const navListeners = new Set<(path: string) => void>();

/** route registers a page for a path like "/watch/:id". */
export function route(path: string, page: Page): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    "^" + path.replace(/:([a-zA-Z]+)/g, (_, k: string) => (keys.push(k), "([^/]+)")) + "/?$",
  );
  routes.push({ pattern, keys, page });
}

/** fallback sets the page shown for unknown paths. */
export function fallback(page: Page): void {
  notFound = page;
}

/** onNavigate calls l with the path after each navigation. */
export function onNavigate(l: (path: string) => void): void {
  navListeners.add(l);
}

/** navigate moves to path, pushing (or replacing) a history entry. */
export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

/** start renders the current URL and takes over same-origin link clicks. */
export function start(el: HTMLElement): void {
  outlet = el;
  addEventListener("popstate", () => void render());
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    if (!a.hasAttribute("data-link")) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  void render();
}

/** rerender renders the current page again (e.g. after sign-in). */
export function rerender(): void {
  void render();
}

async function render(): Promise<void> {
  current?.abort(new DOMException("navigated away", "AbortError"));
  const ctl = new AbortController();
  current = ctl;
  const path = decodeURI(location.pathname);
  for (const l of navListeners) l(path);
  outlet.replaceChildren();
  outlet.removeAttribute("aria-busy");
  window.scrollTo(0, 0);
  const query = new URLSearchParams(location.search);
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.keys.forEach((k, i) => (params[k] = m[i + 1] ?? ""));
    await r.page({ root: outlet, params, query, signal: ctl.signal });
    return;
  }
  await notFound({ root: outlet, params: {}, query, signal: ctl.signal });
}
