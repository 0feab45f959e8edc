"""Predict function: `functions-framework --source functions/predict/main.py --target predict`,
or the Lambda handler `main.lambda_handler`. Everything else lives in the shared layer."""

from service.http.entry import http_target, predict_function

app = predict_function()


def predict(request):
    return app.serve_flask(request)


predict = http_target(predict, app)


asgi = app.serve_asgi  # scripts/serve.sh predict: gunicorn + uvicorn workers (slow clients hold no worker)


def lambda_handler(event, context):
    return app.serve_lambda(event, context)
