# Every spotrun image from one file: the bot (GKE, see helm/spotrun) and each Cloud Run agent
# (see agents/<package>/service.yaml). Build context: the repo root. AGENT picks the image:
#   buildah bud --build-arg AGENT=bot -t spotrun-bot .
#   buildah bud --build-arg AGENT=image-gen -t spotrun-image-gen .        (web-scraper, data-analysis, audio-video)
#   buildah bud --build-arg AGENT=web-scraper --build-arg WITH_CHROMIUM=true -t spotrun-web-scraper .
# An image holds its own locked dependencies (requirements/images/$AGENT.txt: core + its extra) and its own
# code (spotrun + agents/common + agents/<package>, or spotrun + bot + agent_client), nothing else.
# BASE_IMAGE runs the image: any Debian bookworm with python3 >= 3.11. BUILD_IMAGE installs the wheels: the
# same Debian and Python plus pip and venv. scripts/make-base-image builds both offline
# (localhost/spotrun-runtime:bookworm and localhost/spotrun-builder:bookworm).
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG BUILD_IMAGE=python:3.11-slim-bookworm
ARG AGENT=bot

# ---- builder: the locked wheels and this image's code in /opt/venv ------------------------------------
FROM ${BUILD_IMAGE} AS builder
# strip (binutils) trims symbol tables off native extensions; a python:*-slim builder lacks it.
RUN command -v strip >/dev/null || { apt-get update \
    && apt-get install -y --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*; }
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# No pip inside the venv: the builder's pip installs into it (--python), so the image carries no installer.
RUN python3 -m venv --without-pip /opt/venv
ARG AGENT
ARG WITH_CHROMIUM=false
# Dependencies first, from the lock alone: this layer survives source edits. --no-deps + hashes: exactly
# the versions the tests ran against (scripts/lock), nothing resolved at build time.
COPY requirements/images/ /src/requirements/
RUN lock="/src/requirements/${AGENT}.txt"; \
    if [ "$WITH_CHROMIUM" = true ]; then lock="/src/requirements/${AGENT}-chromium.txt"; fi; \
    [ -f "$lock" ] || { echo "no $lock: AGENT must be bot, image-gen, web-scraper, data-analysis or audio-video" >&2; exit 1; }; \
    python3 -m pip --python /opt/venv/bin/python install --no-deps --require-hashes -r "$lock"
# Trim what no process imports: test suites (~120 MiB for the analysis stack) and the symbol tables of
# unstripped extensions (polars: ~40 MiB). Vendored *.libs are left alone (patchelf'd; strip can break them).
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && find "$site" -depth -type d -name tests -path "$site/*/*" -exec rm -rf {} + \
 && find "$site" -name '*.so' -type f ! -path '*.libs/*' -exec sh -c \
        'for f; do readelf -S "$f" 2>/dev/null | grep -q "\.symtab" && strip --strip-unneeded "$f"; done' sh {} +
# The code: copy everything, install only this image's packages (setuptools finds what is present).
COPY pyproject.toml README.md /src/all/
COPY spotrun /src/all/spotrun
COPY agents /src/all/agents
COPY bot /src/all/bot
COPY agent_client /src/all/agent_client
RUN mkdir -p /src/project/agents && cd /src/all \
 && cp -r pyproject.toml README.md spotrun /src/project/ && cp agents/__init__.py /src/project/agents/ \
 && if [ "$AGENT" = bot ]; then cp -r bot agent_client /src/project/; \
    else pkg="$(echo "$AGENT" | tr - _)" && cp -r agents/common "agents/$pkg" /src/project/agents/; fi \
 && find /src/project -name '*.md' ! -name README.md -delete \
 && python3 -m pip --python /opt/venv/bin/python install --no-deps /src/project

# ---- runtime: what every image shares ----------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
RUN useradd --uid 10001 --user-group --no-log-init --create-home --home-dir /home/spotrun spotrun \
 && printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
        'path-exclude=/usr/share/locale/*' >/etc/dpkg/dpkg.cfg.d/01-spotrun-nodoc
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/spotrun

# ---- one thin stage per image: system packages, settings and entry point --------------------------------
FROM runtime AS bot
RUN mkdir -p /data && chown 10001:10001 /data
ENV SPOTRUN_OPS_PORT=8000 \
    SPOTRUN_LOG_FORMAT=json
WORKDIR /data
EXPOSE 8000
# Exec form: spotrun is PID 1 and receives SIGTERM itself (the bot installs its drain handler).
# Liveness/readiness come from the Kubernetes probes on /healthz and /readyz, not HEALTHCHECK.
ENTRYPOINT ["spotrun"]
CMD ["bot"]

# Cloud Run agents: listen on $PORT; exec form, so Python is PID 1 and gets Cloud Run's SIGTERM
# (aiohttp drains, then exits).
FROM runtime AS agent
ENV PORT=8080 \
    SPOTRUN_AGENT_LOG_FORMAT=json
EXPOSE 8080

FROM agent AS image-gen
# No system packages: Pillow's wheel bundles its codecs; generation itself is a remote provider.
ENTRYPOINT ["spotrun", "agent", "image-gen"]

FROM agent AS web-scraper
# JS rendering is off by default (SPOTRUN_SCRAPER_RENDER_JS=false): Chromium (~300 MiB) and Playwright's
# driver (~165 MiB) come only with --build-arg WITH_CHROMIUM=true; then set SPOTRUN_SCRAPER_RENDER_JS=true.
# Never `playwright install`: Playwright drives Debian's /usr/bin/chromium.
ARG WITH_CHROMIUM=false
RUN if [ "$WITH_CHROMIUM" = true ]; then \
        apt-get update \
     && apt-get install -y --no-install-recommends chromium fonts-liberation \
     && apt-get clean && rm -rf /var/lib/apt/lists/*; \
    fi
ENV SPOTRUN_SCRAPER_CHROMIUM_PATH=/usr/bin/chromium
ENTRYPOINT ["spotrun", "agent", "web-scraper"]

FROM agent AS data-analysis
# matplotlib's font cache is warmed at build time below (saves ~1-2 s on every cold start). The folder
# belongs to the runtime user: matplotlib rebuilds the cache in a temp dir when it is not writable.
ENV MPLBACKEND=Agg \
    MPLCONFIGDIR=/opt/mplconfig
RUN mkdir -p /opt/mplconfig && chown 10001:10001 /opt/mplconfig
ENTRYPOINT ["spotrun", "agent", "data-analysis"]

FROM agent AS audio-video
# ffmpeg converts and probes media; espeak-ng is the offline text-to-speech engine.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["spotrun", "agent", "audio-video"]

# ---- the image: its stage + its venv ------------------------------------------------------------------
FROM ${AGENT}
ARG AGENT
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
# Fails the build when the image cannot import its own entry point (a pruned file it needed shows here),
# and warms matplotlib's font cache where MPLCONFIGDIR is set.
RUN if [ "$AGENT" = bot ]; then python3 -c "import bot.runtime.main"; \
    else python3 -c "import importlib, sys; from agents import AGENTS; importlib.import_module(AGENTS[sys.argv[1]] + '.app')" "$AGENT"; fi \
 && if [ -n "${MPLCONFIGDIR:-}" ]; then python3 -c "import matplotlib.pyplot" && ls "$MPLCONFIGDIR" | grep -q fontlist; fi
