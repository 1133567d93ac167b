# The signaling server with the browser arena, for deployment beside coturn
# (deploy/compose.yaml; the README's "Deploy it" section).
#
#   docker build -t bevy-p2p-signaling .
#
# The build stage runs deploy/build.sh, which deploy/check.sh also runs
# outside Docker on every scripts/test run, so these steps are tested.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN deploy/build.sh --install-tools /out

FROM debian:bookworm-slim
# No shell tools are needed at run time; a user of its own, no root.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin p2p
COPY --from=build /out/bevy_p2p_signaling /usr/local/bin/bevy_p2p_signaling
COPY --from=build /out/web /srv/web
# Listen on every interface of the container; the reverse proxy in front
# of it terminates TLS (wss://, https://). Everything else comes from the
# environment (P2P_SIGNALING_*, see `bevy_p2p_signaling --help`).
ENV P2P_SIGNALING_BIND=0.0.0.0:3536 \
    P2P_SIGNALING_WEB_ROOT=/srv/web \
    RUST_LOG=info
USER 10001
EXPOSE 3536
ENTRYPOINT ["/usr/local/bin/bevy_p2p_signaling"]
