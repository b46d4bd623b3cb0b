namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// A refusal a service makes on behalf of a client (validation, conflict, missing object). The API answers it as
/// problem details with the same status and code; the UI shows <see cref="Exception.Message"/>.
/// </summary>
public sealed class ProblemException(int status, string code, string message, IDictionary<string, string[]>? errors = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public IDictionary<string, string[]>? Errors { get; } = errors;

    public static ProblemException Invalid(string field, string message) =>
        new(400, "invalid_request", message, new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemException NotFound(string message) => new(404, "not_found", message);
    public static ProblemException Conflict(string message) => new(409, "conflict", message);
}
