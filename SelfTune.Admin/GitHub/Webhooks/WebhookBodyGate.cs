namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// Bounds how many large webhook bodies are held in memory at once. A body is buffered (once) until its signature is
/// checked, so without a bound a burst of 25 MB posts with plausible signatures could take hundreds of megabytes; with it,
/// the receiver holds at most <see cref="LargeBodySlots"/> × 25 MB and answers the rest 503 with Retry-After at once,
/// rather than queueing them without bound. Small bodies, which almost every GitHub delivery is, never wait.
/// It also remembers, per source address, how many deliveries failed the signature check lately (the built-in sliding
/// window limiter): an address over <see cref="FailuresPerWindow"/> gets 429 with Retry-After for posts that cannot be
/// GitHub's — no usable signature header, or a large body — until its window slides on, without anything being read.
/// Small signed posts from that address are still checked, so GitHub's deliveries behind a shared address keep
/// arriving while a neighbour floods.
/// </summary>
public sealed class WebhookBodyGate
{
    public const int FailuresPerWindow = 20;

    /// <summary>Signature failures per source address: 20 a minute, in 10-second steps.</summary>
    public AddressFailureLimiter SignatureFailures { get; } = new(FailuresPerWindow, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(10));

    /// <summary>Bodies above this (or of unknown length, i.e. chunked) need a slot.</summary>
    public const long LargeBodyBytes = 1024 * 1024;

    public const int LargeBodySlots = 4;

    readonly SemaphoreSlim slots = new(LargeBodySlots, LargeBodySlots);

    /// <summary>
    /// A slot for a body of <paramref name="contentLength"/> bytes (null: unknown): <see cref="Slot.None"/> for a small body,
    /// null when every slot for large bodies is taken. Dispose the slot when the body is no longer held.
    /// </summary>
    public Slot? TryEnter(long? contentLength)
    {
        if (contentLength is <= LargeBodyBytes) return Slot.None;
        return slots.Wait(0) ? new Slot(slots) : null;
    }

    public sealed class Slot : IDisposable
    {
        public static readonly Slot None = new(null);

        SemaphoreSlim? held;

        internal Slot(SemaphoreSlim? semaphore) => held = semaphore;

        public void Dispose() => Interlocked.Exchange(ref held, null)?.Release();
    }
}
