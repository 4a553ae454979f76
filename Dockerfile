# The relay, the provisioner and the HTTP API in one image: `docker run IMAGE relay run`, ...
# Build: docker build -t gateway-outbox:0.1.0 .

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY outbox ./outbox
COPY relay ./relay
COPY provisioner ./provisioner
COPY outbox_cli ./outbox_cli
COPY outbox_api ./outbox_api
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 outbox \
    && useradd --system --uid 10001 --gid outbox --home-dir /home/outbox --create-home outbox
USER 10001:10001
WORKDIR /home/outbox
# 9101: relay metrics and health; 9102: provisioner metrics and health; 8080: the HTTP API.
EXPOSE 9101 9102 8080
# exec form: `outbox` is PID 1 and gets SIGTERM itself, so the grace period applies.
ENTRYPOINT ["outbox"]
CMD ["--help"]
