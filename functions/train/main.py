"""Train function: `functions-framework --source functions/train/main.py --target train`,
or the Lambda handler `main.lambda_handler`. Everything else lives in the shared layer."""

from service.http.entry import http_target, train_function

app = train_function()


def train(request):
    return app.serve_flask(request)


train = http_target(train, app)


asgi = app.serve_asgi  # scripts/serve.sh train: gunicorn + uvicorn workers (slow clients hold no worker)


def lambda_handler(event, context):
    return app.serve_lambda(event, context)
