// Entry point of the embed page, /embed/<videoId>: the player alone, for an
// iframe on a creator's site. No header, navigation or footer; the watch
// page's player (sign-in for gated videos, refusal screen, dev mint) fills
// the frame. The gateway sends frame-ancestors from the video's allowed
// origins. Inside a third-party frame the browser may partition
// localStorage, so a viewer signs in inside the frame once per embedding
// site.
import "./styles.css";
import type { Video } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import { api, Code, errorMessage, isCode, loadConfig } from "./api";
import { h, icon, icons } from "./dom";
import { mountPlayer } from "./pages/watch";
import { initSession } from "./session";
import { loading } from "./ui";

function videoIdFromPath(): string {
  const m = /^\/embed\/([^/]+)\/?$/.exec(location.pathname);
  return m ? decodeURIComponent(m[1]!) : "";
}

function notice(title: string, text: string): HTMLElement {
  return h("div", { class: "stage-message", "data-testid": "embed-message" }, icon(icons.alert, "denied-icon"), h("h2", null, title), h("p", { class: "muted" }, text));
}

async function main(): Promise<void> {
  const root = document.getElementById("embed")!;
  const stage = h("div", { class: "stage-box embed-stage", "data-testid": "embed" });
  root.replaceChildren(stage);
  stage.append(h("div", { class: "stage-message" }, loading("Loading…")));
  try {
    await loadConfig();
  } catch (err) {
    stage.replaceChildren(notice("The player is unreachable", errorMessage(err)));
    return;
  }
  await initSession();
  const videoId = videoIdFromPath();
  let video: Video;
  try {
    video = (await api.metadata.getVideo({ videoId })).video!;
  } catch (err) {
    stage.replaceChildren(isCode(err, Code.NotFound) || isCode(err, Code.InvalidArgument) ? notice("Video not found", "It may have been deleted, or the embed code is wrong.") : notice("Cannot load the video", errorMessage(err)));
    return;
  }
  document.title = `${video.title} · StreamGate`;
  // A link to the full page, for what the frame cannot show.
  root.append(h("a", { class: "embed-title", href: `/watch/${encodeURIComponent(video.id)}`, target: "_blank", rel: "noopener" }, video.title));

  // Signing in happens inside the player (its sign-in panel goes on to
  // play), so nothing here follows the session.
  await mountPlayer(stage, video, new AbortController().signal);
}

void main();
