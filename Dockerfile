# Image for the broker's Python services (router, hub, agency nodes).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY broker ./broker
COPY schemas ./schemas
# pdqhash (PDQ) has no Linux wheel: build it with a compiler that does not stay in the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && pip install --no-cache-dir ".[otlp]" \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 broker
USER broker
WORKDIR /home/broker
ENTRYPOINT ["broker"]
