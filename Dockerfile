# larder-server: runs the TypeScript sources directly on Node 22 (type stripping),
# with production dependencies only, as the unprivileged `node` user. It serves the
# client it was built with at /client/ (the package and the linux-x64 executable).
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:22-bookworm-slim AS client
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY shared ./shared
COPY client ./client
RUN node client/package/build.ts && node client/package/sea.ts

FROM node:22-bookworm-slim
# Listening beyond loopback needs tokens: mount a tokens file (docs/security.md;
# docs/tokens.example.json shows the format).
ENV NODE_ENV=production \
    LARDER_HOST=0.0.0.0 \
    LARDER_PORT=7373 \
    LARDER_STORE=/data \
    LARDER_TOKENS_FILE=/etc/larder/tokens.json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY shared ./shared
COPY server ./server
COPY client ./client
COPY --from=client /app/dist/larder-*.tgz /app/dist/larder-linux-x64 ./dist/
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 7373
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "bin/healthcheck.js"]
ENTRYPOINT ["node", "bin/larder-server.js"]
