"""Write many rows at once: insert (`allocate_ids`, `insert_rows`, `insert_objects`) and set a few columns
on many rows, each row its own values (`update_columns`).

Inserting: Django's `bulk_create` spends most of a big batch in Python, preparing every value through the
field, building one statement with a placeholder per value, and (psycopg) rewriting those placeholders. Here,
on PostgreSQL, one `COPY … FROM STDIN` per call streams the rows (psycopg formats them in C); on SQLite one
INSERT run per row with executemany. Ids, when the caller needs them before inserting (to link rows to each
other), come as one block: `nextval` of the table's sequence N times in one query on PostgreSQL, the next
free rowids on SQLite (whose IMMEDIATE transactions already hold the write lock, so nobody else takes
them). Values go in as the model holds them (Decimal, date, aware datetime, str, int, bool, None); a
datetime or JSON column is adapted for the database. Nothing here sends signals or runs `save()`, so the
caller fills every column the model's Python defaults and `auto_now` would have filled (`insert_objects`
does this from the fields).

Setting columns:

Django's `bulk_update` builds one `CASE WHEN id = … THEN …` per column, which PostgreSQL plans and runs
in time that grows with the square of the batch. Here, on PostgreSQL, one
`UPDATE t SET … FROM unnest(<array>, …) WHERE t.id = v.id` per 5,000 rows, each column sent as one array
literal; on SQLite one `UPDATE … WHERE id = ?`
sent with executemany (a prepared statement run per row inside the caller's transaction, which is what
SQLite is fast at). The caller's transaction holds the rows; nothing here saves signals or `auto_now`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction
from django.utils import timezone

CHUNK = 5000


def update_columns(model: type[models.Model], field_names: Sequence[str], rows: Sequence[Sequence]) -> None:
    """`rows` are `(pk, value of field_names[0], value of field_names[1], …)`; foreign keys by their
    `<name>_id` attribute value (give the field name, e.g. "invoice", and the id)."""
    if not rows:
        return
    quote_name = connection.ops.quote_name
    table = quote_name(model._meta.db_table)
    fields = [model._meta.get_field(name) for name in field_names]
    columns = [quote_name(field.column) for field in fields]
    pk_column = quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            pk_type = model._meta.pk.rel_db_type(connection)
            arrays = ", ".join([f"%s::{pk_type}[]"] + [f"%s::{_cast_type(field)}[]" for field in fields])
            assignments = ", ".join(f"{column} = v.{column}" for column in columns)
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start:start + CHUNK]
                params = [_pg_array(_db_value(fields, index, row[index]) for row in chunk)
                          for index in range(len(fields) + 1)]
                cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) "
                               f"AS v (pk__, {', '.join(columns)}) WHERE t.{pk_column} = v.pk__", params)
        else:
            sets = ", ".join(f"{column} = %s" for column in columns)
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE {pk_column} = %s",
                               [[*(_db_value(fields, i, v) for i, v in enumerate(row) if i), row[0]] for row in rows])


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` new primary keys for `model`, reserved for this transaction."""
    if count <= 0:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate_ids must run inside the transaction that inserts the rows")
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                           [table, pk, count])
            return [row[0] for row in cursor.fetchall()]
        quote_name = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote_name(pk)}), 0) FROM {quote_name(table)}")
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        first = max(top, found[0] if found else 0) + 1
        return list(range(first, first + count))


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert `rows` (tuples in the order of `columns`, field attnames such as "entry_id") into the model's
    table. Columns left out take the database's default (the id: the next of its sequence). On PostgreSQL the
    rows stream in while the connection is busy with the COPY: a generator that queries the database itself
    would wait forever, so give a list then."""
    fields = [model._meta.get_field(name) for name in columns]
    adapters = [_adapter(field) for field in fields]
    if any(adapters):
        rows = ([adapt(value) if adapt and value is not None else value for adapt, value in zip(adapters, row, strict=True)]
                for row in rows)
    quote_name = connection.ops.quote_name
    table = quote_name(model._meta.db_table)
    names = ", ".join(quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))


def insert_objects(objs: Sequence[models.Model]) -> None:
    """Insert unsaved model instances of one model whose primary keys are set (from `allocate_ids`):
    every concrete column, `auto_now`/`auto_now_add` set to now."""
    if not objs:
        return
    model = type(objs[0])
    fields = model._meta.concrete_fields
    now = timezone.now()
    always = [field.attname for field in fields if getattr(field, "auto_now", False)]
    if_empty = [field.attname for field in fields if getattr(field, "auto_now_add", False)]
    for obj in objs:
        if obj.pk is None:
            raise ValueError("insert_objects needs every primary key set (allocate_ids)")
        for name in always:
            setattr(obj, name, now)
        for name in if_empty:
            if getattr(obj, name) is None:
                setattr(obj, name, now)
    attnames = [field.attname for field in fields]
    insert_rows(model, attnames, ([getattr(obj, name) for name in attnames] for obj in objs))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = "default"


def _adapter(field: models.Field):
    """How a column's values must be converted for the driver, or None (passed as they are)."""
    if isinstance(field, models.JSONField):
        from .audit import JsonText

        return lambda value: (str(value) if isinstance(value, JsonText)  # serialised already
                              else field.get_db_prep_save(value, connection))
    if isinstance(field, models.DateTimeField) and connection.vendor != "postgresql":
        return connection.ops.adapt_datetimefield_value
    return None


def _pg_array(values) -> str:
    """A PostgreSQL array literal: one parameter for a whole column instead of one per value."""
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif isinstance(value, bool):
            items.append("t" if value else "f")
        elif isinstance(value, str):
            items.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            items.append(f'"{value}"')
    return "{" + ",".join(items) + "}"


def _cast_type(field: models.Field) -> str:
    if field.is_relation:
        return field.target_field.rel_db_type(connection)
    db_type = field.db_type(connection) or "text"
    return db_type.split("(")[0] if db_type.startswith(("varchar", "character varying")) else db_type


def _db_value(fields, index: int, value):
    """The value as the database driver takes it (row[0] is the pk)."""
    if index == 0 or value is None:
        return value
    field = fields[index - 1]
    if field.is_relation:
        return value
    return field.get_db_prep_save(value, connection)
