"""Predict function: `functions-framework --source functions/predict/main.py --target predict`,
or the Lambda handler `main.lambda_handler`. Everything else lives in the shared layer."""
try:  # functions-framework runs it locally; on Lambda only lambda_handler is used
    from functions_framework import http
except ImportError:  # the Lambda layer does not ship Flask

    def http(function):
        return function

from service.entrypoints import predict_app

app = predict_app()


@http
def predict(request):
    return app.serve_flask(request)


def lambda_handler(event, context):
    return app.serve_lambda(event)
