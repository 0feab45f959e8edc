# The predict function for docker-compose: scripts/serve.sh (gunicorn + uvicorn workers, the same
# launcher `make run` uses) over the same code the Lambda layer carries. (On AWS it is a zip function with the layer built by `make layer`.)
FROM python:3.12-slim

WORKDIR /app
COPY requirements/serve.txt /app/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /app/requirements.txt

COPY ml /app/ml
COPY service /app/service
COPY functions/__init__.py functions/__main__.py /app/functions/
COPY functions/predict/main.py /app/functions/predict/main.py
COPY scripts/serve.sh /app/scripts/serve.sh
# bytecode now: the app user cannot write __pycache__ in /app, so every start would compile it again (~45 ms)
RUN python3 -m compileall -q /app/ml /app/service /app/functions

ENV PYTHONPATH=/app
RUN useradd --uid 10001 --no-create-home app
USER app
EXPOSE 8080
CMD ["scripts/serve.sh", "predict", "--host", "0.0.0.0", "--port", "8080"]
