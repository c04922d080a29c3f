# hoop in a container: `docker build -t hoop .` then see docker-compose.yml.
FROM rust:1.89-bookworm AS build
# pg_query compiles PostgreSQL's parser; bindgen needs libclang.
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p examples --bin hoop

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/hoop /usr/local/bin/hoop
RUN useradd --system --home /var/lib/hoop --create-home hoop
USER hoop
ENV HOOP_DATA_DIR=/var/lib/hoop
VOLUME /var/lib/hoop
# Postgres, SSH, Kubernetes, admin API (see docs/configuration.md, listeners.*).
EXPOSE 5432 2222 6443 8099
ENTRYPOINT ["hoop"]
CMD ["serve", "--config", "/etc/hoop/hoop.toml"]
