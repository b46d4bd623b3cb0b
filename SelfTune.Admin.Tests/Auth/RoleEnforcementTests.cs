using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Audit;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>
/// Issue 8 item 10: the services check the role themselves (SPEC section 2), whoever calls them, so a page that shows a
/// button by mistake or a new endpoint cannot change settings for a member. Admins and owners manage connections,
/// installations and the write-back mode; members may also sync; viewers read.
/// </summary>
public sealed class RoleEnforcementTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    async Task<Actor> ActorAsync(MemberRole role) => new(await h.App.AcmeOrgIdAsync(), Guid.NewGuid(), role);

    async Task<T> WithScopeAsync<T>(Func<IServiceProvider, Task<T>> work)
    {
        await using var scope = h.App.Services.CreateAsyncScope();
        return await work(scope.ServiceProvider);
    }

    Task<GitHubConnection> ConnectionAsync(Guid id) =>
        h.App.WithDbAsync(db => db.Connections.AsNoTracking().SingleAsync(c => c.Id == id));

    static async Task AssertForbiddenAsync(Func<Task> call)
    {
        var refused = await Assert.ThrowsAsync<ProblemException>(call);
        Assert.Equal(403, refused.Status);
        Assert.Equal("forbidden", refused.Code);
        Assert.StartsWith("Only ", refused.Message);
    }

    [Fact]
    public async Task A_member_cannot_edit_delete_or_create_connections_or_bind_installations()
    {
        var c = await h.ConnectRepoAsync(h.Api, "roles-member");
        var member = await ActorAsync(MemberRole.Member);
        var connection = await ConnectionAsync(c.ConnectionId);
        var other = h.GitHub.AddInstallation("roles-member-other");

        await WithScopeAsync<object?>(async services =>
        {
            var connections = services.GetRequiredService<ConnectionService>();
            var binder = services.GetRequiredService<InstallationBinder>();
            var setup = services.GetRequiredService<GitHubSetupService>();

            await AssertForbiddenAsync(() => connections.UpdateAsync(member, connection, new UpdateConnectionRequest(null, false, null, null, null), default));
            await AssertForbiddenAsync(() => connections.DeleteAsync(member, connection, default));
            await AssertForbiddenAsync(() => connections.CreateAsync(member, new CreateConnectionRequest(
                Guid.Parse(c.EntryId), c.Installation.Id, c.Repo.FullName, "main", "other", true, false, "v*"), default));
            await AssertForbiddenAsync(() => binder.IssueStateAsync(member, default));
            await AssertForbiddenAsync(() => binder.BindInstallationAsync(member, other.Id, null, null, null, default));
            await AssertForbiddenAsync(() => setup.RefreshInstallationAsync(member, c.Installation.Id));
            await AssertForbiddenAsync(() => setup.SetWriteBackModeAsync(member, WriteBackMode.Off));
            await AssertForbiddenAsync(() => setup.CreateEntryAsync(member, new CreateEntryRequest("roles-member-entry", null, null, null)));
            return null;
        });

        // Nothing changed.
        var after = await ConnectionAsync(c.ConnectionId);
        Assert.True(after.AutoPublish);
        Assert.Equal(WriteBackMode.Checks, await WithScopeAsync(s => s.GetRequiredService<GitHubSetupService>().GetWriteBackModeAsync(member.OrgId)));
        Assert.False(await h.App.WithDbAsync(db => db.Installations.AnyAsync(i => i.InstallationId == other.Id)));
    }

    [Fact]
    public async Task A_viewer_cannot_sync_and_a_member_can()
    {
        var c = await h.ConnectRepoAsync(h.Api, "roles-sync");

        await AssertForbiddenAsync(() => WithScopeAsync(async s =>
            await s.GetRequiredService<ManualSync>().RunAsync(await ActorAsync(MemberRole.Viewer), c.ConnectionId)));
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));

        var attempt = await WithScopeAsync(async s =>
            await s.GetRequiredService<ManualSync>().RunAsync(await ActorAsync(MemberRole.Member), c.ConnectionId));
        Assert.Equal(AttemptTrigger.Manual, attempt.Trigger);
        Assert.Equal(AttemptStatus.Published, attempt.Status);
    }

    [Fact]
    public async Task An_admin_binds_edits_syncs_and_deletes()
    {
        var admin = await ActorAsync(MemberRole.Admin);
        var installation = h.GitHub.AddInstallation("roles-admin");
        var repo = h.GitHub.AddRepo(installation, installation.AccountLogin, "roles-admin");
        h.GitHub.PushCommit(repo, "main", GitHubHarness.Skill("roles-admin"));
        var install = await h.InstallThroughBrowserAsync(h.Api, installation);
        var (installationId, state) = install;

        await WithScopeAsync<object?>(async services =>
        {
            var binder = services.GetRequiredService<InstallationBinder>();
            var setup = services.GetRequiredService<GitHubSetupService>();
            var connections = services.GetRequiredService<ConnectionService>();

            Assert.Contains(await binder.ProveAsync(admin, state, install.Code, default), i => i.Id == installationId); // the callback's step
            var bound = await binder.BindInstallationAsync(admin, installationId, null, null, state, default);
            Assert.True(bound.Created);
            Assert.Equal(admin.Id, bound.Installation.CreatedBy);
            Assert.NotEmpty(await binder.IssueStateAsync(admin, default));
            await setup.RefreshInstallationAsync(admin, installationId);

            var entry = await setup.CreateEntryAsync(admin, new CreateEntryRequest("roles-admin", null, null, repo.FullName));
            // Auto-publish off at first (no first sync), so the admin's own sync below is what publishes.
            var created = await connections.CreateAsync(admin,
                new CreateConnectionRequest(entry.Id, installationId, repo.FullName, null, null, false, null, null), default);
            Assert.Equal(admin.Id, created.CreatedBy);

            await connections.UpdateAsync(admin, created, new UpdateConnectionRequest(null, true, null, null, null), default);
            Assert.True((await ConnectionAsync(created.Id)).AutoPublish);

            var attempt = await services.GetRequiredService<ManualSync>().RunAsync(admin, created.Id);
            Assert.Equal(AttemptStatus.Published, attempt.Status);

            await connections.DeleteAsync(admin, created, default);
            Assert.False(await h.App.WithDbAsync(db => db.Connections.AnyAsync(c => c.Id == created.Id)));
            return null;
        });
    }

    [Fact]
    public async Task An_admin_of_another_org_gets_not_found_for_a_connection()
    {
        var c = await h.ConnectRepoAsync(h.Api, "roles-other-org");
        var (otherOrg, _) = await h.App.CreateOrgAsync(Plan.Pro);
        var stranger = new Actor(otherOrg, Guid.NewGuid(), MemberRole.Owner);
        var connection = await ConnectionAsync(c.ConnectionId);

        var refused = await Assert.ThrowsAsync<ProblemException>(() => WithScopeAsync<object?>(async s =>
        {
            await s.GetRequiredService<ConnectionService>().DeleteAsync(stranger, connection, default);
            return null;
        }));
        Assert.Equal(404, refused.Status);
        Assert.NotNull(await ConnectionAsync(c.ConnectionId));
    }

    [Fact]
    public void The_actor_of_a_browser_is_the_members_role_and_of_an_API_key_its_permission()
    {
        var org = Guid.NewGuid();
        var id = Guid.NewGuid();
        ClaimsPrincipal Principal(string authenticationType, params Claim[] extra) => new(new ClaimsIdentity(
            [new Claim(SelfTuneClaims.OrgId, org.ToString()), new Claim(SelfTuneClaims.ActorId, id.ToString()), .. extra], authenticationType));

        Assert.Equal(new Actor(org, id, MemberRole.Member) { Kind = AuditActorKind.Member }, Actor.From(Principal("Cookies", new Claim(SelfTuneClaims.Role, "Member"))));
        Assert.Equal(MemberRole.Viewer, Actor.From(Principal("Cookies")).Role); // no role claim: the least
        Assert.Equal(MemberRole.Admin, Actor.From(Principal(ApiKeyAuthenticationHandler.SchemeName,
            new Claim(SelfTuneClaims.Permission, SelfTuneClaims.RegistryRead), new Claim(SelfTuneClaims.Permission, SelfTuneClaims.RegistryPush))).Role);
        Assert.Equal(MemberRole.Viewer, Actor.From(Principal(ApiKeyAuthenticationHandler.SchemeName,
            new Claim(SelfTuneClaims.Permission, SelfTuneClaims.RegistryRead))).Role);
        // A key cannot claim a role for itself.
        Assert.Equal(MemberRole.Viewer, Actor.From(Principal(ApiKeyAuthenticationHandler.SchemeName, new Claim(SelfTuneClaims.Role, "Owner"))).Role);
    }
}
