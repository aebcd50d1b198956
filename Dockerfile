# Vigil server image: `docker compose up` (see docker-compose.yml) or
#   docker build -t vigil . && docker run -p 8082:8082 -p 5023:5023 vigil
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p vigil-server --locked \
 && install -Dm755 target/release/vigil /out/vigil

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/vigil --create-home vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=web /src/web/dist /usr/share/vigil/web
USER vigil
WORKDIR /var/lib/vigil
ENV VIGIL_DATABASE_URL=sqlite:///var/lib/vigil/data/vigil.db
ENV VIGIL_WEB_DIR=/usr/share/vigil/web
# GT06, JT808, H02, OsmAnd, HTTP API, MQTT
EXPOSE 5023 5015 5013 5055 8082 1883
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["vigil", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["vigil"]
CMD ["serve"]
