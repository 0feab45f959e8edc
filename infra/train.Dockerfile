# The train function: TensorFlow is too big for a zip + layer, so it ships as an image.
# AWS Lambda's Python base image carries the runtime interface client; locally the same
# image runs under functions-framework (see docker-compose.yml).
FROM public.ecr.aws/lambda/python:3.12

COPY requirements/run.txt ${LAMBDA_TASK_ROOT}/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r ${LAMBDA_TASK_ROOT}/requirements.txt

COPY ml ${LAMBDA_TASK_ROOT}/ml
COPY service ${LAMBDA_TASK_ROOT}/service
COPY functions/train/main.py ${LAMBDA_TASK_ROOT}/main.py
# for docker-compose, which serves it over HTTP with the same launcher as `make run`
COPY functions/__init__.py functions/__main__.py ${LAMBDA_TASK_ROOT}/functions/
COPY functions/train/main.py ${LAMBDA_TASK_ROOT}/functions/train/main.py
COPY scripts/serve.sh ${LAMBDA_TASK_ROOT}/scripts/serve.sh
# bytecode now: Lambda's task root is read-only, so every cold start would compile it again
RUN python3 -m compileall -q ${LAMBDA_TASK_ROOT}/ml ${LAMBDA_TASK_ROOT}/service ${LAMBDA_TASK_ROOT}/functions ${LAMBDA_TASK_ROOT}/main.py

ENV MPLCONFIGDIR=/tmp/matplotlib \
    TRAIN_LOCK_FILE=/tmp/train.lock
CMD ["main.lambda_handler"]
