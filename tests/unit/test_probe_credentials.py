"""Where ``probe`` finds an access key: a file in any of the forms people have, or the environment."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelarts_operator.tools.credentials import CredentialsError, from_file, project_id_from, resolve

AK, SK, TOKEN = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", "temporary-token"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plain.yaml", f"accessKey: {AK}\nsecretKey: {SK}\nsecurityToken: {TOKEN}\n"),
        ("plain.json", json.dumps({"accessKey": AK, "secretKey": SK, "securityToken": TOKEN})),
        (
            "kubectl.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: modelarts\ntype: Opaque\ndata:\n"
            f"  accessKey: {b64(AK)}\n  secretKey: {b64(SK)}\n  securityToken: {b64(TOKEN)}\n",
        ),
        (
            "manifest.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: modelarts\nstringData:\n"
            f"  accessKey: {AK}\n  secretKey: {SK}\n  securityToken: {TOKEN}\n",
        ),
    ],
)
def test_every_file_form_gives_the_same_credentials(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    credentials = from_file(path)
    assert credentials.access_key == AK
    assert credentials.secret_key.get_secret_value() == SK
    assert credentials.security_token is not None and credentials.security_token.get_secret_value() == TOKEN


def test_the_consoles_credentials_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "credentials.csv"
    path.write_text(f"\ufeffUser Name,Access Key Id,Secret Access Key\nalice,{AK},{SK}\n", encoding="utf-8")
    credentials = from_file(path)
    assert (credentials.access_key, credentials.secret_key.get_secret_value(), credentials.security_token) == (
        AK,
        SK,
        None,
    )


def test_broken_files_are_refused_without_echoing_values(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(f"kind: Secret\ndata:\n  accessKey: {b64(AK)}\n  secretKey: '!!{SK}'\n")
    with pytest.raises(CredentialsError, match=r"data\.secretKey is not base64") as caught:
        from_file(path)
    assert SK not in str(caught.value)
    path.write_text(f"accessKey: {AK}\n")
    with pytest.raises(CredentialsError, match="has no secretKey"):
        from_file(path)
    with pytest.raises(CredentialsError, match="No such file"):
        from_file(tmp_path / "absent.yaml")


def test_environment_order_operator_variables_then_huaweis_and_never_mixed() -> None:
    huawei = {
        "HUAWEICLOUD_SDK_AK": "HUAWEIAK",
        "HUAWEICLOUD_SDK_SK": "huawei-sk",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "huawei-token",
        "HUAWEICLOUD_SDK_PROJECT_ID": "hw-project",
    }
    assert resolve(None, huawei).access_key == "HUAWEIAK"
    assert resolve(None, huawei).security_token is not None
    assert project_id_from(huawei) == "hw-project"
    both = huawei | {
        "MODELARTS_ACCESS_KEY": "OPERATORAK",
        "MODELARTS_SECRET_KEY": "operator-sk",
        "MODELARTS_PROJECT_ID": "operator-project",
    }
    chosen = resolve(None, both)
    assert (chosen.access_key, chosen.secret_key.get_secret_value(), chosen.security_token) == (
        "OPERATORAK",
        "operator-sk",
        None,
    )
    assert project_id_from(both) == "operator-project"
    half = {"MODELARTS_ACCESS_KEY": "OPERATORAK", "HUAWEICLOUD_SDK_SK": "huawei-sk"}
    with pytest.raises(CredentialsError, match="MODELARTS_ACCESS_KEY/MODELARTS_SECRET_KEY"):
        resolve(None, half)


def test_a_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"accessKey": AK, "secretKey": SK}))
    assert resolve(path, {"MODELARTS_ACCESS_KEY": "OTHER", "MODELARTS_SECRET_KEY": "other"}).access_key == AK
