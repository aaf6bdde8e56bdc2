# CPU image by default; for CUDA build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 GAN_REGISTRY_DIR=/data/registry OMP_WAIT_POLICY=PASSIVE
RUN useradd --create-home --uid 1000 gan && mkdir -p /data/registry && chown -R gan /data
WORKDIR /srv
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX}
COPY pyproject.toml README.md ./
COPY models ./models
COPY app ./app
COPY worker ./worker
RUN pip install .
USER gan
EXPOSE 8000
# the same entry points as the README: `uvicorn app.main:app` and `python -m worker`
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
