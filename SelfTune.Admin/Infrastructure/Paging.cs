using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Cursor paging for API lists (SPEC section 10): <c>?limit=</c> (default 50, at most 200) and <c>?cursor=</c>, the
/// <c>next_cursor</c> a previous page gave out. A cursor holds the sort key of the last row served (keyset paging),
/// so a page never repeats or skips a row because others were added meanwhile. It is opaque to clients: base64url of
/// the list's name and the key, checked on the way back in, so a cursor of another list or a garbled one is a 400.
/// </summary>
public sealed record PageRequest(int Limit, IReadOnlyList<string>? After)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;
    const int MaxCursorLength = 2048;

    /// <summary>Reads <c>limit</c> and <c>cursor</c> for the list named <paramref name="list"/>; a bad value is a 400 naming it.</summary>
    public static PageRequest Parse(string? limit, string? cursor, string list)
    {
        var size = DefaultLimit;
        if (!string.IsNullOrEmpty(limit)
            && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1 || size > MaxLimit))
            throw ProblemException.Invalid("limit", $"limit must be a whole number from 1 to {MaxLimit} (the default is {DefaultLimit}).");
        return new PageRequest(size, string.IsNullOrEmpty(cursor) ? null : Decode(cursor, list));
    }

    /// <summary>The cursor after a row whose sort key is <paramref name="key"/> in the list named <paramref name="list"/>.</summary>
    public static string Cursor(string list, params string[] key) =>
        WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes((string[])[list, .. key]));

    /// <summary>The answer to a cursor that decodes but whose key does not fit the list.</summary>
    public static ProblemException InvalidCursor() => ProblemException.Invalid("cursor",
        "cursor is not one this list gave out: pass the previous page's next_cursor unchanged, or leave cursor out for the first page.");

    static string[] Decode(string cursor, string list)
    {
        try
        {
            if (cursor.Length <= MaxCursorLength
                && JsonSerializer.Deserialize<string[]>(WebEncoders.Base64UrlDecode(cursor)) is [var name, .. var key]
                && name == list && key.Length > 0 && key.All(k => k is not null))
                return key;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException) { }
        throw InvalidCursor();
    }

    /// <summary>
    /// The key after which a list ordered by a time then an id goes on (versions, connections, attempts), or null on
    /// the first page; a cursor whose key is not that is a 400.
    /// </summary>
    public (DateTimeOffset At, Guid Id)? AfterTimeAndId()
    {
        if (After is null) return null;
        if (After is [var atText, var idText]
            && DateTimeOffset.TryParseExact(atText, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var at)
            && Guid.TryParse(idText, out var id))
            return (at, id);
        throw InvalidCursor();
    }

    /// <summary>The cursor key of a row in a list ordered by <paramref name="at"/> then <paramref name="id"/>.</summary>
    public static string[] TimeAndIdKey(DateTimeOffset at, Guid id) => [at.ToString("O", CultureInfo.InvariantCulture), id.ToString()];

    /// <summary>
    /// The page from <paramref name="rows"/>, fetched with <see cref="Limit"/> + 1 rows so a further row says there is a
    /// next page; <paramref name="keyOf"/> gives the sort key of the last row served.
    /// </summary>
    public Page<T> ToPage<T>(IReadOnlyList<T> rows, string list, Func<T, string[]> keyOf) =>
        rows.Count > Limit
            ? new Page<T>(rows.Take(Limit).ToList(), Cursor(list, keyOf(rows[Limit - 1])))
            : new Page<T>(rows, null);
}

/// <summary>One page of a list and the cursor of the next one (null on the last page).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
