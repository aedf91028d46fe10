FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY workerkit ./workerkit
RUN pip install --no-cache-dir '.[postgres]'
COPY workers ./workers
COPY config ./config
USER nobody
CMD ["workerkit", "run", "workers.orders:app"]
