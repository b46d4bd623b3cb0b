using Microsoft.AspNetCore.Components;

namespace SelfTune.Admin.Components.Shared;

/// <summary>
/// The rows a live table shows, by key, filled by the rows themselves (<see cref="LiveRow{TRow}"/>): a live update of some
/// rows reaches just those (<see cref="Show"/>), so the page and its table do not render again for it and the other rows
/// cost nothing. A page of 50 rows rendered whole for every update of one was most of what an open page cost a publish.
/// </summary>
public sealed class LiveRows<TRow>(Func<TRow, Guid> keyOf) where TRow : class
{
    readonly Dictionary<Guid, LiveRow<TRow>> shown = [];

    /// <summary>
    /// Shows each of <paramref name="rows"/>, read again at <paramref name="at"/> (for rows that show relative times), in
    /// its row; on the renderer's thread. False when one of them has no row rendered yet: then the page's next render shows it.
    /// </summary>
    public bool Show(IEnumerable<TRow> rows, DateTimeOffset at = default)
    {
        var all = true;
        foreach (var row in rows)
            if (shown.TryGetValue(keyOf(row), out var cells)) cells.Show(row, at);
            else all = false;
        return all;
    }

    internal void Add(TRow row, LiveRow<TRow> cells) => shown[keyOf(row)] = cells;

    internal void Remove(TRow row, LiveRow<TRow> cells)
    {
        if (shown.GetValueOrDefault(keyOf(row)) == cells) shown.Remove(keyOf(row)); // not when the table reused it for another row
    }
}

/// <summary>
/// One row of a live table (a component of its cells): renders when its parameters hand it another row or when
/// <see cref="LiveRows{TRow}.Show"/> does, not when the page renders again for another reason.
/// </summary>
public abstract class LiveRow<TRow> : ComponentBase, IDisposable where TRow : class
{
    [Parameter, EditorRequired] public TRow Row { get; set; } = default!;
    /// <summary>The time relative times are counted from (the time the row was read).</summary>
    [Parameter] public DateTimeOffset Now { get; set; }
    /// <summary>The page's rows by key, so that a live update reaches this row without rendering the page.</summary>
    [Parameter, EditorRequired] public LiveRows<TRow> Rows { get; set; } = default!;

    /// <summary>The row shown, and the time it was read.</summary>
    protected TRow Shown { get; private set; } = default!;
    protected DateTimeOffset ShownAt { get; private set; }
    bool changed;

    protected override void OnParametersSet()
    {
        if (ReferenceEquals(Row, Shown)) return; // the page rendered again for another reason: this row is as it was
        if (Shown is not null) Rows.Remove(Shown, this);
        (Shown, ShownAt, changed) = (Row, Now, true);
        Rows.Add(Shown, this);
    }

    internal void Show(TRow row, DateTimeOffset at)
    {
        var before = Shown;
        (Shown, ShownAt) = (row, at);
        if (ShowByPart(before, row, at)) return;
        changed = true;
        StateHasChanged();
    }

    /// <summary>
    /// Shows a live update of <paramref name="before"/> to <paramref name="row"/> by the part of the row that shows what
    /// changed, when only that changed (the rest of the row does not render); true when it did. The whole row by default.
    /// </summary>
    protected virtual bool ShowByPart(TRow before, TRow row, DateTimeOffset at) => false;

    protected override bool ShouldRender() => changed;

    protected override void OnAfterRender(bool firstRender) => changed = false;

    public void Dispose()
    {
        if (Shown is not null) Rows.Remove(Shown, this);
    }
}

/// <summary>
/// A row of a list that grows at the top, keyed by its id in the page's loop (the Deliveries page's rows, the Overview's
/// latest attempts): it renders when what it shows changes (<see cref="Shows"/>), not each time the page renders, so a
/// live update renders the new rows and the changed ones, and the rest move down as they were.
/// </summary>
public abstract class KeyedRow : ComponentBase
{
    object? shown;
    bool changed;

    /// <summary>What the row shows, as one value (a record, a tuple) compared with the one it last rendered: equal, no render.</summary>
    protected abstract object Shows();

    protected override void OnParametersSet()
    {
        var showing = Shows();
        if (Equals(showing, shown)) return;
        (shown, changed) = (showing, true);
    }

    protected override bool ShouldRender() => changed;

    protected override void OnAfterRender(bool firstRender) => changed = false;
}
