import { h, icons } from "../dom";
import type { PageContext } from "../router";
import { emptyState } from "../ui";

export function notFoundPage({ root }: PageContext): void {
  document.title = "Not found · StreamGate";
  root.append(emptyState("Page not found", "There is nothing at this address.", h("a", { class: "btn btn-primary", href: "/", "data-link": true }, "Back to the library"), icons.alert));
}
