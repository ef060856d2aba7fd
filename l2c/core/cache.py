"""The embedded default cache: Django's DatabaseCache, with counters that are atomic across processes.

Why the database: L2C's embedded setup runs several gunicorn processes (and Celery) on one machine
without Redis. A counter that must hold across those processes (the web-form rate limit) needs one
shared store with an atomic increment. LocMemCache is per process; FileBasedCache is shared, but its
`add` (exists-then-write) and `incr` (read-then-write) race between processes, so two requests can
both read 9 and both write 10. Django's own DatabaseCache has the same read-then-write `incr`.

This backend keeps Django's DatabaseCache for everything else and stores integers as plain text
("i:<n>"), so that:

  incr  is ONE statement, `UPDATE ... SET value = 'i:' || (n + delta) ... RETURNING value`: atomic on
        PostgreSQL (row lock) and SQLite (one writer), one round trip, no read-modify-write;
  add   of an integer is ONE statement, `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`: exactly
        one of several concurrent adders wins, and an expired entry is taken over.

Expired rows are deleted now and then by `add` (about one call in CLEANUP_EVERY), through the index on
`expires`. The table is created by the migration `leads.0006_cache_table` (or `createcachetable`).
Production sets CACHE_URL=redis://… and uses Django's RedisCache, whose INCRBY is atomic too.
"""
from __future__ import annotations

import base64
import pickle
import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import DatabaseError, connections, models, router
from django.utils.timezone import now as tz_now

INT_PREFIX = "i:"
CLEANUP_EVERY = 200


def _is_int(value) -> bool:
    return type(value) is int


class DatabaseCache(DjangoDatabaseCache):
    """DatabaseCache with atomic, single-statement `add` of integers and `incr`."""

    # --- reading: integers are stored as text -------------------------------------------------------

    def get_many(self, keys, version=None):
        if not keys:
            return {}
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        db = router.db_for_read(self.cache_model_class)
        connection = connections[db]
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {qn('cache_key')}, {qn('value')}, {qn('expires')} FROM {qn(self._table)} "
                f"WHERE {qn('cache_key')} IN ({', '.join(['%s'] * len(key_map))})",
                list(key_map),
            )
            rows = cursor.fetchall()
        expression = models.Expression(output_field=models.DateTimeField())
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        result, expired = {}, []
        now = tz_now()
        for key, value, expires in rows:
            for converter in converters:
                expires = converter(expires, expression, connection)
            if expires < now:
                expired.append(key)
                continue
            value = connection.ops.process_clob(value)
            if value.startswith(INT_PREFIX):
                result[key_map[key]] = int(value[len(INT_PREFIX):])
            else:
                result[key_map[key]] = pickle.loads(base64.b64decode(value.encode()))
        self._base_delete_many(expired)
        return result

    # --- counters ------------------------------------------------------------------------------------

    def _expiry(self, timeout) -> datetime:
        timeout = self.get_backend_timeout(timeout)
        if timeout is None:
            expires = datetime.max.replace(tzinfo=UTC if settings.USE_TZ else None) - timedelta(days=1)
        else:
            expires = datetime.fromtimestamp(timeout, tz=UTC if settings.USE_TZ else None)
        return expires.replace(microsecond=0)

    @staticmethod
    def _now_for_db(connection):
        now = tz_now().replace(microsecond=0)
        if not settings.USE_TZ:
            now = now.replace(tzinfo=None)
        return connection.ops.adapt_datetimefield_value(now)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        if not _is_int(value):
            return super().add(key, value, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        qn = connection.ops.quote_name
        table = qn(self._table)
        expires = connection.ops.adapt_datetimefield_value(self._expiry(timeout))
        now = self._now_for_db(connection)
        with connection.cursor() as cursor:
            if random.randrange(CLEANUP_EVERY) == 0:
                cursor.execute(f"DELETE FROM {table} WHERE {qn('expires')} < %s", [now])
            try:
                cursor.execute(
                    f"INSERT INTO {table} ({qn('cache_key')}, {qn('value')}, {qn('expires')}) VALUES (%s, %s, %s) "
                    f"ON CONFLICT ({qn('cache_key')}) DO UPDATE SET {qn('value')} = excluded.{qn('value')}, "
                    f"{qn('expires')} = excluded.{qn('expires')} WHERE {table}.{qn('expires')} < %s",
                    [key, f"{INT_PREFIX}{value}", expires, now],
                )
            except DatabaseError:  # like Django's DatabaseCache: a cache write may fail quietly
                return False
            return cursor.rowcount == 1

    def incr(self, key, delta=1, version=None):
        full_key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        qn = connection.ops.quote_name
        value = qn("value")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(self._table)} SET {value} = %s || CAST(CAST(SUBSTR({value}, 3) AS BIGINT) + %s AS TEXT) "
                f"WHERE {qn('cache_key')} = %s AND {qn('expires')} >= %s AND {value} LIKE %s "
                f"RETURNING {value}",
                [INT_PREFIX, int(delta), full_key, self._now_for_db(connection), INT_PREFIX + "%"],
            )
            row = cursor.fetchone()
        if row is not None:
            return int(connection.ops.process_clob(row[0])[len(INT_PREFIX):])
        # missing, expired, or not an integer: Django's behaviour (ValueError / TypeError)
        return super().incr(key, delta, version)
