import { h } from "../dom";
import { navigate, type PageContext } from "../router";
import { session } from "../session";
import { pageHeader, signInPanel } from "../ui";

// next returns a same-site path to go back to after signing in.
function next(query: URLSearchParams): string {
  const n = query.get("next") ?? "/";
  return n.startsWith("/") && !n.startsWith("//") && n !== "/signin" ? n : "/";
}

export function signInPage({ root, query }: PageContext): void {
  document.title = "Sign in · StreamGate";
  const s = session();
  if (s) {
    root.append(pageHeader("You are signed in", `As ${s.address}.`), h("a", { class: "btn btn-primary", href: next(query), "data-link": true }, "Continue"));
    return;
  }
  root.append(h("div", { class: "narrow" }, signInPanel("Your wallet is your account: creators upload with it, and gated videos check what it holds.", () => navigate(next(query), true))));
}
