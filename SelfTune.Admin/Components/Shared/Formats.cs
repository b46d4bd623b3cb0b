namespace SelfTune.Admin.Components.Shared;

/// <summary>How the UI writes sizes and times.</summary>
public static class Formats
{
    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes / (1024.0 * 1024):0.#} MiB",
    };

    public static string Date(DateTimeOffset? t) => t is null ? "—" : t.Value.UtcDateTime.ToString("yyyy-MM-dd");

    public static string Time(DateTimeOffset? t) => t is null ? "—" : t.Value.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'");

    public static string Ago(DateTimeOffset? t, DateTimeOffset now)
    {
        if (t is null) return "never";
        var d = now - t.Value;
        return d.TotalSeconds < 60 ? "just now"
            : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min ago"
            : d.TotalHours < 24 ? $"{(int)d.TotalHours} h ago"
            : $"{(int)d.TotalDays} d ago";
    }
}
