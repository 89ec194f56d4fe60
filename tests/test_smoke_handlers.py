from tests.lambda_client import call


def test_health_is_public(db):
    result = call("GET", "/api/v1/health")
    assert result.status == 200
    assert result.data["dependencies"]["database"]["status"] == "up"


def test_credit_then_read(api_key, new_user):
    key = api_key()
    user = new_user()
    assert call("POST", f"/api/v1/balance/{user['id']}/credit", key=key,
                body={"amount": "10.00", "reason": "seed"}).status == 200
    assert call("GET", f"/api/v1/balance/{user['id']}", key=key).data["available"] == "10.00"
