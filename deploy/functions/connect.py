"""$connect integration for fastauthz deployments.

The authorizer has already allowed the connection when this runs. API Gateway never echoes a
WebSocket subprotocol by itself: a client that offered `Sec-WebSocket-Protocol: bearer, <jwt>`
(browsers cannot set an Authorization header) only connects if this response names one of the
offered protocols. The token itself is never echoed.
"""


def handler(event, context):
    offered = ""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "sec-websocket-protocol":
            offered = value
    protocols = [p.strip() for p in offered.split(",") if p.strip() and p.count(".") != 2]
    if not protocols:
        return {"statusCode": 200}
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": protocols[0]}}
