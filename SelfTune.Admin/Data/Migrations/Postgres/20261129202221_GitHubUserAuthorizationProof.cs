using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class GitHubUserAuthorizationProof : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ClientId",
                table: "StoredApps",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ProtectedClientSecret",
                table: "StoredApps",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "FailedAttempts",
                table: "InstallStates",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "ProvedInstallations",
                table: "InstallStates",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "ReplayedByOrgId",
                table: "Deliveries",
                type: "uuid",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ClientId",
                table: "StoredApps");

            migrationBuilder.DropColumn(
                name: "ProtectedClientSecret",
                table: "StoredApps");

            migrationBuilder.DropColumn(
                name: "FailedAttempts",
                table: "InstallStates");

            migrationBuilder.DropColumn(
                name: "ProvedInstallations",
                table: "InstallStates");

            migrationBuilder.DropColumn(
                name: "ReplayedByOrgId",
                table: "Deliveries");
        }
    }
}
