using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>One annotation of a check run, as a client posted it.</summary>
public sealed record FakeAnnotation(string Path, int StartLine, int EndLine, string Level, string Message);

/// <summary>Check-run annotations: recorded per run and per request, with GitHub's limit of 50 per request.</summary>
public sealed partial class FakeGitHub
{
    /// <summary>GitHub refuses a create or update of a check run whose output carries more annotations than this (422).</summary>
    public const int MaxAnnotationsPerRequest = 50;

    static readonly string[] AnnotationLevels = ["notice", "warning", "failure"];

    private readonly Dictionary<long, List<FakeAnnotation>> _annotations = new();
    private readonly Dictionary<long, List<int>> _annotationRequests = new();

    /// <summary>Every annotation of the run, in the order they arrived (GitHub appends each request's to the run's).</summary>
    public IReadOnlyList<FakeAnnotation> AnnotationsOf(long checkRunId)
    {
        lock (_gate) return _annotations.TryGetValue(checkRunId, out var list) ? list.ToArray() : [];
    }

    /// <summary>How many annotations each request that carried some brought to the run, in order.</summary>
    public IReadOnlyList<int> AnnotationRequestsOf(long checkRunId)
    {
        lock (_gate) return _annotationRequests.TryGetValue(checkRunId, out var list) ? list.ToArray() : [];
    }

    /// <summary>
    /// Answers 422 as GitHub does when <paramref name="output"/> carries more than 50 annotations or one without its
    /// required fields; returns false when it answered.
    /// </summary>
    private async Task<bool> AcceptAnnotationsAsync(HttpContext ctx, JsonObject? output)
    {
        if (output?["annotations"] is not JsonArray annotations) return true;
        if (annotations.Count > MaxAnnotationsPerRequest)
        {
            await ValidationFailedAsync(ctx, "CheckRun", "annotations",
                $"Only {MaxAnnotationsPerRequest} annotations are allowed per request; got {annotations.Count}.");
            return false;
        }
        foreach (var a in annotations)
        {
            if (a is not JsonObject o || ReadAnnotation(o) is null)
            {
                await ValidationFailedAsync(ctx, "CheckRun", "annotations",
                    "an annotation needs path, start_line, end_line, annotation_level (notice, warning or failure) and message");
                return false;
            }
        }
        return true;
    }

    /// <summary>Appends the request's annotations to the run's. Call under the gate, after <see cref="AcceptAnnotationsAsync"/>.</summary>
    private void RecordAnnotations(long checkRunId, JsonObject? output)
    {
        if (output?["annotations"] is not JsonArray { Count: > 0 } annotations) return;
        lock (_gate)
        {
            if (!_annotations.TryGetValue(checkRunId, out var list)) _annotations[checkRunId] = list = [];
            list.AddRange(annotations.Select(a => ReadAnnotation((JsonObject)a!)!));
            if (!_annotationRequests.TryGetValue(checkRunId, out var requests)) _annotationRequests[checkRunId] = requests = [];
            requests.Add(annotations.Count);
        }
    }

    private static FakeAnnotation? ReadAnnotation(JsonObject o)
    {
        var path = Str(o, "path");
        var level = Str(o, "annotation_level");
        var message = Str(o, "message");
        if (string.IsNullOrEmpty(path) || string.IsNullOrEmpty(message) || level is null || !AnnotationLevels.Contains(level)) return null;
        if (Line(o, "start_line") is not { } start || Line(o, "end_line") is not { } end || end < start) return null;
        return new FakeAnnotation(path, start, end, level, message);
    }

    private static int? Line(JsonObject o, string key) =>
        o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int n) && n >= 1 ? n : null;
}
