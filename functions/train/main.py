"""Train function: `functions-framework --source functions/train/main.py --target train`,
or the Lambda handler `main.lambda_handler`. Everything else lives in the shared layer."""
try:  # functions-framework runs it locally; on Lambda only lambda_handler is used
    from functions_framework import http
except ImportError:  # the Lambda layer does not ship Flask

    def http(function):
        return function

from service.entrypoints import train_app

app = train_app()


@http
def train(request):
    return app.serve_flask(request)


def lambda_handler(event, context):
    return app.serve_lambda(event)
