"""Train function: `functions-framework --source functions/train/main.py --target train`,
or the Lambda handler `main.lambda_handler`. Everything else lives in the shared layer."""
from service.entrypoints import http_target, train_app

app = train_app()


@http_target
def train(request):
    return app.serve_flask(request)


def lambda_handler(event, context):
    return app.serve_lambda(event)
