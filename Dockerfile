# The voxgate image: the operator (`voxgate operator run`) and the training pods' unseal init
# container (`voxgate unseal`), one image so both run the code that was reviewed together.
#
#   docker build -t registry.example.org/voxgate/voxgate:0.1.0 .
#
# Then install the chart with image.digest set to the digest the registry reports for the push.
# Release builds should pin PYTHON_IMAGE by digest as well (python:3.11-slim-bookworm@sha256:...).
# The development machine has no container engine, so CI does not build this file; the install
# step it runs is the one `make venv` runs (pip install of this project), checked there.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Only what the wheel is built from: nothing of tests/, bench/ or the Go tools' caches.
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/voxgate \
 && /opt/voxgate/bin/pip install --no-cache-dir --no-compile . \
 && /opt/voxgate/bin/python -m compileall -q /opt/voxgate/lib

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/voxgate /opt/voxgate
ENV PATH=/opt/voxgate/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Non-root with a numeric ID, as Pod Security "restricted" and runAsNonRoot require; the chart and
# the training pods set the same IDs and a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["voxgate"]
CMD ["--help"]
