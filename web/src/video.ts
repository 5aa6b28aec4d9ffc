// Helpers over metadata.v1.Video shared by the pages.
import { AccessMode } from "@gen/streamgate/auth/v1/access_policy_pb";
import { VideoStatus, type Video } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { cfg } from "./api";
import { formatDuration, h, icon, icons, shortAddress } from "./dom";

export function isGated(v: Video): boolean {
  const m = v.accessPolicy?.mode ?? AccessMode.UNSPECIFIED;
  return m !== AccessMode.UNSPECIFIED && m !== AccessMode.PUBLIC;
}

export function seconds(d: Duration | undefined): number {
  return d ? Number(d.seconds) + d.nanos / 1e9 : 0;
}

export const statusLabel: Record<VideoStatus, string> = {
  [VideoStatus.UNSPECIFIED]: "Unknown",
  [VideoStatus.UPLOADING]: "Uploading",
  [VideoStatus.PROCESSING]: "Processing",
  [VideoStatus.READY]: "Ready",
  [VideoStatus.FAILED]: "Failed",
  [VideoStatus.DELETED]: "Deleted",
};

/**
 * posterUrl is the poster of a public video under the playback base URL.
 * Gated posters need a playback token, so cards show a placeholder.
 */
export function posterUrl(v: Video): string | undefined {
  if (!v.posterPath || isGated(v)) return undefined;
  const base = cfg().playbackBaseUrl || `${location.origin}/play`;
  return `${base}/${encodeURIComponent(v.id)}/${v.posterPath.split("/").map(encodeURIComponent).join("/")}`;
}

/** videoCard is one tile of the library grid. */
export function videoCard(v: Video, own: boolean): HTMLElement {
  const poster = posterUrl(v);
  const thumb = h(
    "div",
    { class: "thumb" },
    poster ? h("img", { src: poster, alt: "", loading: "lazy", onerror: (e: Event) => (e.target as HTMLElement).remove() }) : null,
    h("div", { class: "thumb-placeholder" }, icon(isGated(v) ? icons.lock : icons.play)),
    v.duration ? h("span", { class: "thumb-duration" }, formatDuration(seconds(v.duration))) : null,
    isGated(v) ? h("span", { class: "badge badge-gated thumb-badge", "data-testid": "gated-badge" }, icon(icons.lock), "Gated") : null,
  );
  const status = v.status !== VideoStatus.READY ? h("span", { class: `badge badge-status status-${VideoStatus[v.status].toLowerCase()}` }, statusLabel[v.status]) : null;
  return h(
    "article",
    { class: "video-card", "data-testid": "video-card", "data-video-id": v.id },
    h("a", { href: `/watch/${v.id}`, "data-link": true, class: "video-card-link" }, thumb, h("div", { class: "video-card-body" }, h("h3", { class: "video-title", title: v.title }, v.title), h("p", { class: "muted small" }, own ? "You" : shortAddress(v.creatorAddress), status ? " · " : null, status))),
    own ? h("a", { href: `/studio/${v.id}`, "data-link": true, class: "video-card-edit", title: "Access & status", "aria-label": "Open in studio" }, icon(icons.edit)) : null,
  );
}
