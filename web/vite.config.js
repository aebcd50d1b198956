import { defineConfig } from 'vite';
import { pwaPlugin } from './pwa.js';

// Preact through esbuild's automatic JSX runtime: no framework plugin needed.
// `npm run dev` proxies the API to a local `vigil serve` (VIGIL_DEV_API, default :8082).
const api = process.env.VIGIL_DEV_API || 'http://127.0.0.1:8082';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  // manifest.webmanifest, sw.js and icons/ at the root of dist/ (see pwa.js).
  plugins: [pwaPlugin()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
  server: {
    proxy: {
      '/api': { target: api, ws: true },
      '/config.json': api,
      '/health': api,
    },
  },
});
