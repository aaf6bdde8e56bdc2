# CPU image by default. For NVIDIA GPUs build with the CUDA wheels of the same torch (the wheels carry the
# CUDA runtime; the host needs only the driver and the NVIDIA container toolkit):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t gan-service:cuda .
#   docker run --gpus all -e GAN_DEVICE=cuda gan-service:cuda
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GAN_REGISTRY_DIR=/data/registry GAN_LOG_FORMAT=json
RUN useradd --create-home --uid 1000 gan && mkdir -p /data/registry && chown -R gan /data
WORKDIR /srv
# torch alone first, from the chosen index: its own layer, reused while the code changes
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX}
COPY pyproject.toml README.md ./
COPY models ./models
COPY app ./app
COPY worker ./worker
COPY cli ./cli
RUN pip install . && rm -rf /root/.cache
USER gan
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# the same entry points as the README: `uvicorn app.main:app` (or `gan serve`) and `python -m worker`
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
