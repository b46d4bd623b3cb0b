using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// What a client (or GitHub) sent wrong, in plain words. The framework's and System.Text.Json's messages name .NET types
/// (<c>System.Nullable`1[System.Int64]</c>, <c>SelfTune.Admin.GitHub.BindInstallationRequest</c>): these say what the field
/// should be instead, so no answer to bad input shows an internal name.
/// </summary>
public static partial class InputProblems
{
    /// <summary>
    /// The detail of a 400 for a request that minimal API binding refused (ThrowOnBadRequest), e.g.
    /// "The request body is not valid JSON: 'installation_id' must be a whole number (line 1, position 23)." or
    /// "Query parameter 'limit' must be a whole number."
    /// </summary>
    public static string Describe(BadHttpRequestException bad, HttpContext http)
    {
        var message = bad.Message;
        if (bad.InnerException is JsonException json) return DescribeBody(json);

        if (BindFailed().Match(message) is { Success: true } failed)
            return $"{Source(http, failed.Groups["name"].Value)} '{failed.Groups["name"].Value}' must be {ExpectedParameter(failed.Groups["type"].Value)}.";
        if (RequiredMissing().Match(message) is { Success: true } missing)
            return missing.Groups["source"].Value == "body"
                ? "The request body is required: send a JSON object."
                : $"{SourceWord(missing.Groups["source"].Value)} '{missing.Groups["name"].Value}' is required.";
        if (message.StartsWith("Implicit body inferred", StringComparison.Ordinal))
            return "The request body is required: send a JSON object.";
        if (ReadFailed().Match(message) is { Success: true } unread)
            return $"The request body could not be read as {unread.Groups["format"].Value}.";
        // Kestrel's own messages ("Request body too large...", "Unexpected end of request content.") name no types.
        return NamesType(message) ? "The request could not be read." : message;
    }

    /// <summary>"The request body is not valid JSON: ..." for a body that System.Text.Json refused.</summary>
    public static string DescribeBody(JsonException json) => "The request body is not valid JSON: " + Describe(json) + ".";

    /// <summary>
    /// Why a JSON document was refused, without a trailing period: "'installation_id' must be a whole number (line 1, position 23)",
    /// "'n' is an invalid start of a value (line 1, position 2)". Path, line and position come from the exception's own
    /// properties; the expected type is read from its message, and put in words.
    /// </summary>
    public static string Describe(JsonException json)
    {
        var where = json.LineNumber is { } line && json.BytePositionInLine is { } position
            ? $" (line {line + 1}, position {position + 1})" // both are zero-based
            : "";
        var field = FieldOf(json.Path);
        // The message ends in "Path: ... | LineNumber: ... | BytePositionInLine: ...", which the properties above carry.
        var message = json.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal) is >= 0 and var p ? p
            : message.IndexOf(" LineNumber:", StringComparison.Ordinal) is >= 0 and var l ? l : message.Length;
        var sentence = message[..cut].Trim().TrimEnd('.');

        if (ConvertFailed().Match(sentence) is { Success: true } convert)
            return (field is null ? "the body" : $"'{field}'") + " must be " + ExpectedAt(convert.Groups["type"].Value, field) + where;
        if (RequiredProperties().Match(sentence) is { Success: true } required)
            return "required field(s) missing: " + required.Groups["names"].Value.Replace("'", "") + where;

        // A syntax error from the reader ("'n' is an invalid start of a value"): its own words are plain.
        if (sentence.Length == 0 || NamesType(sentence))
            sentence = field is null ? "it could not be read" : $"the value of '{field}' could not be read";
        return sentence + where;
    }

    /// <summary>
    /// What the value at <paramref name="field"/> should be, from the type System.Text.Json names. For a record bound through
    /// its constructor (every request contract here) it names the record, not the field, so the field is looked up in it.
    /// </summary>
    static string ExpectedAt(string typeName, string? field)
    {
        if (FindType(typeName) is not { } type) return "a value of the right type";
        if (field is not null && IsPlainObject(type) && PropertyType(type, LastSegment(field)) is { } property) return Expected(property);
        return Expected(type);
    }

    /// <summary>What a value of <paramref name="type"/> is, for a client: "a whole number", "true or false", "one of: off, checks".</summary>
    static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type; // a null is never the problem, the inner type is
        if (type.IsEnum) return "one of: " + string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName));
        switch (Type.GetTypeCode(type))
        {
            case TypeCode.Byte or TypeCode.SByte or TypeCode.Int16 or TypeCode.UInt16 or TypeCode.Int32 or TypeCode.UInt32 or TypeCode.Int64 or TypeCode.UInt64:
                return "a whole number";
            case TypeCode.Single or TypeCode.Double or TypeCode.Decimal: return "a number";
            case TypeCode.Boolean: return "true or false";
            case TypeCode.String: return "a string";
            case TypeCode.Char: return "a single character";
            case TypeCode.DateTime: return DateAndTime;
        }
        if (type == typeof(Guid)) return "a UUID";
        if (type == typeof(DateTimeOffset)) return DateAndTime;
        if (type == typeof(DateOnly)) return "a date (YYYY-MM-DD)";
        if (type == typeof(TimeSpan) || type == typeof(TimeOnly)) return "a time (hh:mm:ss)";
        if (type == typeof(Uri)) return "a URL";
        if (IsDictionary(type)) return "a JSON object";
        if (typeof(System.Collections.IEnumerable).IsAssignableFrom(type)) return "an array";
        return "a JSON object";
    }

    const string DateAndTime = "a date and time (ISO 8601, e.g. 2026-01-31T12:00:00Z)";

    static bool IsDictionary(Type type) =>
        typeof(System.Collections.IDictionary).IsAssignableFrom(type)
        || type.GetInterfaces().Append(type).Any(i => i.IsGenericType
            && (i.GetGenericTypeDefinition() == typeof(IDictionary<,>) || i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>)));

    static bool IsPlainObject(Type type) => Expected(type) == "a JSON object" && !IsDictionary(type);

    /// <summary>The type of the property that <paramref name="jsonName"/> binds to (snake_case, as the API reads it, or [JsonPropertyName]).</summary>
    static Type? PropertyType(Type type, string jsonName) =>
        type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .FirstOrDefault(p => p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonPropertyNameAttribute), true)
                    is [System.Text.Json.Serialization.JsonPropertyNameAttribute named] ? named.Name == jsonName
                : JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == jsonName || string.Equals(p.Name, jsonName, StringComparison.OrdinalIgnoreCase))
            ?.PropertyType;

    /// <summary>"repository.id" → "id"; "items[0].name" → "name"; "tags[2]" → "tags".</summary>
    static string LastSegment(string field)
    {
        var last = field[(field.LastIndexOf('.') + 1)..];
        return last.IndexOf('[') is > 0 and var bracket ? last[..bracket] : last;
    }

    /// <summary>A type by the name System.Text.Json gives it (<c>System.Nullable`1[System.Int64]</c>, <c>SelfTune.Admin.GitHub.X</c>).</summary>
    static Type? FindType(string name)
    {
        try
        {
            return Type.GetType(name, throwOnError: false)
                   ?? AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(name, throwOnError: false)).FirstOrDefault(t => t is not null);
        }
        catch (Exception e) when (e is ArgumentException or FileLoadException or BadImageFormatException)
        {
            return null; // not a name a type can have
        }
    }

    /// <summary>
    /// What a route, query or header value of a type named as minimal APIs name it ("Nullable&lt;int&gt;", "int?", "Guid") is.
    /// </summary>
    static string ExpectedParameter(string displayName)
    {
        var name = NullableOf().Match(displayName.Trim()) is { Success: true } nullable ? nullable.Groups["inner"].Value : displayName.Trim();
        name = name.TrimEnd('?');
        if (name.EndsWith("[]", StringComparison.Ordinal)) return "a list of values";
        return ParameterTypes.TryGetValue(name, out var type) ? Expected(type) : "a value of the right type";
    }

    static readonly Dictionary<string, Type> ParameterTypes = new(StringComparer.Ordinal)
    {
        ["byte"] = typeof(byte), ["sbyte"] = typeof(sbyte), ["short"] = typeof(short), ["ushort"] = typeof(ushort),
        ["int"] = typeof(int), ["uint"] = typeof(uint), ["long"] = typeof(long), ["ulong"] = typeof(ulong),
        ["float"] = typeof(float), ["double"] = typeof(double), ["decimal"] = typeof(decimal),
        ["bool"] = typeof(bool), ["char"] = typeof(char), ["string"] = typeof(string),
        ["Guid"] = typeof(Guid), ["DateTime"] = typeof(DateTime), ["DateTimeOffset"] = typeof(DateTimeOffset),
        ["DateOnly"] = typeof(DateOnly), ["TimeOnly"] = typeof(TimeOnly), ["TimeSpan"] = typeof(TimeSpan), ["Uri"] = typeof(Uri),
    };

    /// <summary>"$.repository.id" → "repository.id"; null for the document itself ("$").</summary>
    static string? FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return null;
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    /// <summary>Binding failures do not say where the value came from; the request does.</summary>
    static string Source(HttpContext http, string name) =>
        http.Request.Query.ContainsKey(name) ? "Query parameter"
        : http.Request.Headers.ContainsKey(name) ? "Header"
        // The exception handler has cleared the request's route values by now; its feature kept them.
        : (http.Features.Get<IExceptionHandlerFeature>()?.RouteValues ?? http.Request.RouteValues).ContainsKey(name) ? "Route value"
        : "Parameter";

    static string SourceWord(string source) => source switch
    {
        "query string" => "Query parameter",
        "route" => "Route value",
        "header" => "Header",
        "form" => "Form field",
        _ => "Parameter",
    };

    /// <summary>True when text shows a .NET type name, which an answer must never do.</summary>
    public static bool NamesType(string text) => DotNetTypeName().IsMatch(text);

    [GeneratedRegex(@"^Failed to bind parameter ""(?<type>.+) (?<name>[^ ""]+)"" from ""(?s:.*)""\.$")]
    private static partial Regex BindFailed();

    [GeneratedRegex(@"^Required parameter ""(?<type>.+) (?<name>[^ ""]+)"" was not provided from (?<source>[^.]+)\.$")]
    private static partial Regex RequiredMissing();

    [GeneratedRegex(@"^Failed to read parameter ""(?<type>.+) (?<name>[^ ""]+)"" from the request body as (?<format>\w+)\.$")]
    private static partial Regex ReadFailed();

    [GeneratedRegex(@"could not be converted to (?<type>.+)$")]
    private static partial Regex ConvertFailed();

    [GeneratedRegex(@"missing required properties,? including(?: the following)?: (?<names>.+)$")]
    private static partial Regex RequiredProperties();

    [GeneratedRegex(@"^(?:System\.)?Nullable<(?<inner>.+)>$")]
    private static partial Regex NullableOf();

    [GeneratedRegex(@"\b(?:System|Microsoft|SelfTune|Octokit)\.[A-Z]|`\d")]
    private static partial Regex DotNetTypeName();
}
