"""Keys of DRF's authtoken app (stored in clear until now) become digests here; the clear copies are deleted.

The authtoken app is no longer installed, so its table is read with SQL if it is there (a database made
before this change); a new database has none and nothing happens. Every existing key keeps working.
"""

import hashlib
from typing import Any

from django.db import migrations

OLD_TABLE = "authtoken_token"


def copy_hashed(connection: Any, api_token: Any) -> int:
    """Move every authtoken key into api_token as its digest; delete the clear keys. Returns how many."""
    if OLD_TABLE not in connection.introspection.table_names():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {OLD_TABLE}")  # noqa: S608 (a fixed name)
        rows = cursor.fetchall()
        for key, user_id, created in rows:
            token = api_token.objects.create(
                user_id=user_id, digest=hashlib.sha256(key.encode()).hexdigest(), prefix=key[:8]
            )
            api_token.objects.filter(pk=token.pk).update(created=created)
        cursor.execute(f"DELETE FROM {OLD_TABLE}")  # noqa: S608
    return len(rows)


def forwards(apps: Any, schema_editor: Any) -> None:
    copy_hashed(schema_editor.connection, apps.get_model("api", "ApiToken"))


class Migration(migrations.Migration):
    dependencies = [("api", "0001_api_token")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
