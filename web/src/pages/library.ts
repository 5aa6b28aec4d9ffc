// The library: newest READY videos, a full-text search, and the signed-in
// creator's own videos in every state.
import type { Video } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import { api } from "../api";
import { h, icon, icons } from "../dom";
import type { PageContext } from "../router";
import { session } from "../session";
import { emptyState, errorBox, loading, signInPanel } from "../ui";
import { rerender } from "../router";
import { videoCard } from "../video";

type Tab = "all" | "mine";

export function libraryPage({ root, query, signal }: PageContext): void {
  document.title = "Library · StreamGate";
  const me = session()?.address;
  let tab: Tab = query.get("tab") === "mine" && me ? "mine" : "all";
  let text = query.get("q") ?? "";
  let pageToken = "";
  let seq = 0;

  const search = h("input", { class: "input search-input", type: "search", placeholder: "Search videos", "aria-label": "Search videos", "data-testid": "library-search", value: text });
  const grid = h("div", { class: "grid" });
  const status = h("div");
  const more = h("button", { class: "btn btn-ghost", type: "button", hidden: true, onclick: () => void load(false) }, "Load more");
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const drawTabs = () => {
    tabs.replaceChildren(
      ...(me
        ? (["all", "mine"] as Tab[]).map((t) =>
            h("button", { class: `tab${t === tab ? " active" : ""}`, role: "tab", "aria-selected": String(t === tab), type: "button", onclick: () => { tab = t; drawTabs(); syncUrl(); void load(true); } }, t === "all" ? "All videos" : "My videos"),
          )
        : []),
    );
  };
  const syncUrl = () => {
    const q = new URLSearchParams();
    if (text) q.set("q", text);
    if (tab === "mine") q.set("tab", "mine");
    history.replaceState(null, "", q.size ? `/?${q}` : "/");
  };

  async function load(reset: boolean): Promise<void> {
    const mySeq = ++seq;
    if (reset) {
      pageToken = "";
      grid.replaceChildren();
      status.replaceChildren(loading("Loading videos…"));
    }
    more.hidden = true;
    try {
      let videos: Video[];
      let next: string;
      if (text.trim()) {
        const res = await api.metadata.searchVideos({ query: text.trim(), pageSize: 24, pageToken }, { signal });
        videos = res.videos;
        next = res.nextPageToken;
      } else {
        const res = await api.metadata.listVideos({ pageSize: 24, pageToken, creatorAddress: tab === "mine" ? me : "" }, { signal });
        videos = res.videos;
        next = res.nextPageToken;
      }
      // A newer query was sent while this one ran: drop this answer.
      if (mySeq !== seq) return;
      status.replaceChildren();
      for (const v of videos) {
        if (tab === "all" || !text.trim() || v.creatorAddress === me) grid.append(videoCard(v, v.creatorAddress === me));
      }
      pageToken = next;
      more.hidden = !next;
      if (grid.childElementCount === 0) status.replaceChildren(empty());
    } catch (err) {
      if (signal.aborted || mySeq !== seq) return;
      status.replaceChildren(errorBox(err, () => void load(reset)));
    }
  }

  function empty(): HTMLElement {
    if (text.trim()) return emptyState("No matches", `Nothing matches “${text.trim()}”. Try other words.`, undefined, icons.search);
    const upload = h("a", { class: "btn btn-primary", href: "/upload", "data-link": true }, icon(icons.upload), "Upload a video");
    if (tab === "mine") return emptyState("You have no videos yet", "Upload your first video: it is encoded for adaptive streaming and can be gated by an NFT.", upload);
    return emptyState("No videos yet", "Videos appear here once they are uploaded and encoded.", upload);
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      text = search.value;
      syncUrl();
      void load(true);
    }, 250);
  });
  signal.addEventListener("abort", () => clearTimeout(debounce));

  drawTabs();
  if (!me) root.append(signInPanel("Sign in to upload your own videos and to watch videos gated by an NFT you hold.", rerender, true));
  root.append(
    h("div", { class: "library-head" }, h("div", null, h("h1", null, "Library"), h("p", { class: "muted" }, "Watch what creators publish. Gated videos play for holders of their NFT.")), h("label", { class: "search" }, icon(icons.search), search)),
    tabs,
    grid,
    status,
    h("div", { class: "center" }, more),
  );
  void load(true);
}
