# The gateway image: built with the workspace's pinned dependencies, run as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin addons-gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/addons addons
COPY --from=build /src/target/release/addons-gateway /usr/local/bin/addons-gateway
COPY config /etc/addons/config
WORKDIR /etc/addons
USER addons
ENV ADDONS_DATABASE__DATA_DIR=/var/lib/addons
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/addons-gateway"]
CMD ["serve", "--config", "/etc/addons/config/production.toml"]
