// Vite config for the StreamGate web app. Build from the repo root with
// `node_modules/.bin/vite build web`; the output in web/dist is embedded
// into the Go binary (web/embed.go).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

// Paths the gateway answers itself: the dev server forwards them so the app
// runs against a live `streamgate dev` (STREAMGATE_GATEWAY, default
// http://127.0.0.1:8080) while Vite serves the pages with hot reload.
const apiPrefixes = ["/streamgate.", "/v1/", "/uploads/", "/play/", "/openapi.json", "/metrics", "/grpc."];
const gateway = process.env.STREAMGATE_GATEWAY ?? "http://127.0.0.1:8080";

export default defineConfig({
  root: here,
  base: "/",
  resolve: {
    alias: { "@gen": fileURLToPath(new URL("../gen/ts/src", import.meta.url)) },
  },
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
    // Two pages: the app, and the embed page (the player alone, for
    // iframes), which shares the app's modules and chunks.
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL("./index.html", import.meta.url)),
        embed: fileURLToPath(new URL("./embed.html", import.meta.url)),
      },
    },
  },
  // The dev server answers /embed/<id> with the embed page, as the
  // gateway does (the SPA fallback would give the app).
  plugins: [
    {
      name: "streamgate-embed-page",
      configureServer(server) {
        server.middlewares.use((req, _res, next) => {
          if (req.url && /^\/embed\/[^/?#]+\/?(?:[?#]|$)/.test(req.url)) req.url = "/embed.html";
          next();
        });
      },
    },
  ],
  server: {
    proxy: Object.fromEntries(
      apiPrefixes.map((p) => [`^${p.replace(/\./g, "\\.")}`, { target: gateway, changeOrigin: false, ws: false }]),
    ),
  },
});
