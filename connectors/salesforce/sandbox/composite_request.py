"""The Composite resource (POST composite): up to 25 subrequests in one call that counts as one.

REST API Developer Guide, "Send Multiple Requests Using Composite": subrequests run as the caller, in
order; at most 25 per call, at most 5 of them queries; supported are the sObject resources
(sobjects/...), query/queryAll and sObject Collections. The answer is {"compositeResponse": [{"body",
"httpHeaders", "httpStatusCode", "referenceId"}, ...]}. With allOrNone false a failed subrequest keeps
its own error body and the others run; references between subrequests (@{ref.field}) are not
supported here and are refused.
"""
from __future__ import annotations

import re

from flask import current_app, jsonify, request

from .api import SUBREQUEST, ApiError, json_body, rest_blueprint

bp = rest_blueprint("salesforce_composite_request")
MAX_SUBREQUESTS, MAX_QUERIES = 25, 5
_SUPPORTED = re.compile(r"^/services/data/v\d+\.\d/(sobjects/|query/?\?|queryAll/?\?|composite/sobjects)")
_QUERY = re.compile(r"^/services/data/v\d+\.\d/(query|queryAll)(/|\?)")


def _check(subrequests: object) -> list[dict]:
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "JSON_PARSER_ERROR", 'Send {"compositeRequest": [{"method", "url", "referenceId"}, ...]}.')
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(400, "INVALID_BATCH_REQUEST", f"Composite requests take at most {MAX_SUBREQUESTS} "
                       f"subrequests; this one has {len(subrequests)}.")
    seen = set()
    for item in subrequests:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("method", "url", "referenceId")):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each subrequest needs method, url and referenceId.")
        if item["method"] not in ("GET", "POST", "PATCH", "DELETE"):
            raise ApiError(400, "INVALID_BATCH_REQUEST", f"Method {item['method']!r} is not allowed in a subrequest.")
        if not _SUPPORTED.match(item["url"]):
            raise ApiError(400, "INVALID_BATCH_REQUEST", f"The resource {item['url']!r} is not supported in a "
                           "composite request.")
        if "@{" in item["url"] or "@{" in str(item.get("body", "")):
            raise ApiError(400, "INVALID_BATCH_REQUEST", "References between subrequests are not supported by "
                           "this sandbox.")
        if item["referenceId"] in seen:
            raise ApiError(400, "INVALID_BATCH_REQUEST", f"Duplicate referenceId {item['referenceId']!r}.")
        seen.add(item["referenceId"])
    if sum(1 for item in subrequests if _QUERY.match(item["url"])) > MAX_QUERIES:
        raise ApiError(400, "INVALID_BATCH_REQUEST", f"A composite request takes at most {MAX_QUERIES} queries.")
    return subrequests


@bp.route("/composite/", methods=["POST"], strict_slashes=False)
def composite():
    """Run each subrequest as the caller; one API call in all."""
    body = json_body()
    subrequests = _check(body.get("compositeRequest") if isinstance(body, dict) else None)
    client = current_app.test_client()
    answers = []
    for item in subrequests:
        response = client.open(item["url"], method=item["method"], json=item.get("body"),
                               headers={"Authorization": request.headers.get("Authorization", "")},
                               environ_overrides={SUBREQUEST: True, "wsgi.url_scheme": request.scheme,
                                                  "HTTP_HOST": request.host})
        payload = response.get_json(silent=True) if response.data else None
        headers = {k: v for k, v in response.headers.items() if k in ("Location", "ETag", "Last-Modified")}
        answers.append({"body": payload, "httpHeaders": headers, "httpStatusCode": response.status_code,
                        "referenceId": item["referenceId"]})
    return jsonify({"compositeResponse": answers})
