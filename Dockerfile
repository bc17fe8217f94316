# Image for the broker's Python services (router, hub, agency nodes).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY broker ./broker
COPY schemas ./schemas
RUN pip install --no-cache-dir ".[otlp]"
RUN useradd --create-home --uid 10001 broker
USER broker
WORKDIR /home/broker
ENTRYPOINT ["broker"]
